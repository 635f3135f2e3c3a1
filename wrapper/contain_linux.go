package wrapper

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"zedr-run/internal/contain"
	"zedr-run/wrapper/proc"
)

// Containment mechanisms (Config.Containment, ZEDR_CONTAINMENT).
const (
	// ContainAuto uses a cgroup v2 subtree where zedr-run can create one,
	// and the scan of socket holders otherwise.
	ContainAuto = ""
	// ContainCgroup insists on the cgroup: zedr-run does not start without.
	ContainCgroup = "cgroup"
	// ContainScan never uses cgroups, for tests and troubleshooting.
	ContainScan = "scan"
)

// Every worker is found by its process group, and besides by one of these
// (see package contain): its own leaf of zedr-run's cgroup v2 subtree, or,
// without one, the processes that hold one of zedr-run's sockets and are
// zedr-run's descendants (zedr-run is a child subreaper, so a process that
// left its session and lost its parent is reparented to zedr-run). A socket
// holder belongs to the worker whose process group it is in, or through
// whose process it descends; one reparented to zedr-run itself belongs to
// the worker its environment names (ZEDR_GENERATION, ZEDR_WORKER, with
// zedr-run's NOTIFY_SOCKET). One that belongs to no worker is an orphan,
// stopped with whichever worker is stopped next. zedr-run, its ancestors,
// pid 1 and processes of other zedr-runs are never its descendants, and
// the processes of a worker that serves are never stopped with another.
// The transparent mode's sockets are the same sockets (seccomp ADDFD), so
// the scan finds them there too.
type containment struct {
	log    *slog.Logger
	tree   *contain.Tree      // nil: no cgroups, the scan
	leaves map[leafKey]string // the cgroup of each worker that has one
	inodes map[uint64]bool    // zedr-run's listening sockets
	notify string             // the children's NOTIFY_SOCKET
}

type leafKey struct{ gen, slot int }

func leafName(gen, slot int) string { return fmt.Sprintf("gen%d.worker%d", gen, slot) }

// setupContainment chooses the mechanism, logs it once and tells the
// guardian what it needs to clean up after zedr-run's death.
func (s *supervisor) setupContainment() (*containment, error) {
	c := &containment{log: s.log, leaves: map[leafKey]string{}, inodes: map[uint64]bool{}, notify: s.notify.Path()}
	for _, sock := range s.cfg.Sockets {
		ino, err := contain.SocketInode(sock.File.Fd())
		if err != nil {
			s.log.Warn("socket not tracked for containment", "spec", sock.Spec.String(), "err", err)
			continue
		}
		c.inodes[ino] = true
	}
	why := "ZEDR_CONTAINMENT=" + ContainScan
	if s.cfg.Containment != ContainScan {
		// After a reexec the subtree of the previous zedr-run holds the
		// workers handed over; one that had none (an older binary) hands
		// over workers that the scan finds.
		var t *contain.Tree
		var err error
		if h := s.cfg.Handoff; h != nil && h.Cgroup != "" {
			t, err = contain.ReuseTree(h.Cgroup)
		} else {
			t, err = contain.CreateTree("zedr-run." + strconv.Itoa(os.Getpid()))
		}
		switch {
		case err == nil:
			c.tree = t
		case s.cfg.Containment == ContainCgroup:
			return nil, fmt.Errorf("ZEDR_CONTAINMENT=cgroup: %w", err)
		default:
			why = err.Error()
		}
	}
	if c.tree != nil {
		for _, name := range c.tree.Leaves() {
			var k leafKey
			if _, err := fmt.Sscanf(name, "gen%d.worker%d", &k.gen, &k.slot); err == nil {
				c.leaves[k] = c.tree.Dir + "/" + name
			}
		}
		s.log.Info("containment", "mechanism", "cgroup", "cgroup", c.tree.Dir)
		s.guard.Cgroup(c.tree.Dir)
	} else {
		s.log.Info("containment", "mechanism", "scan", "sockets", len(c.inodes), "why", why)
	}
	for ino := range c.inodes {
		s.guard.Socket(ino)
	}
	s.guard.Env("NOTIFY_SOCKET=" + c.notify)
	return c, nil
}

// enter makes the worker (gen, slot) start in its own cgroup, when there
// are cgroups; the caller runs the returned function once it has started.
func (c *containment) enter(sys *syscall.SysProcAttr, gen, slot int) func() {
	if c.tree == nil {
		return func() {}
	}
	path, fd, err := c.tree.Leaf(leafName(gen, slot))
	if err != nil {
		c.log.Warn("worker starts without a cgroup of its own: it is tracked by the sockets it holds", "gen", gen, "worker", slot, "err", err)
		return func() {}
	}
	c.leaves[leafKey{gen, slot}] = path
	sys.UseCgroupFD, sys.CgroupFD = true, fd
	return func() { unix.Close(fd) }
}

func (c *containment) cgroupOf(w *worker) string { return c.leaves[leafKey{w.g.n, w.slot}] }

// forget removes the cgroup of a worker with no process left.
func (c *containment) forget(w *worker) {
	k := leafKey{w.g.n, w.slot}
	if path, ok := c.leaves[k]; ok {
		if err := unix.Rmdir(path); err != nil && !errors.Is(err, unix.ENOENT) {
			c.log.Warn("remove cgroup", "cgroup", path, "err", err)
		}
		delete(c.leaves, k)
	}
}

// close removes the cgroup subtree, once every generation is gone.
func (c *containment) close() {
	if c.tree != nil {
		if err := c.tree.Remove(); err != nil {
			c.log.Warn("remove cgroup", "err", err)
		}
	}
}

// alive reports whether any process of w is left: in its process group, in
// its cgroup or, without one, holding a socket (orphans included).
func (s *supervisor) alive(w *worker) bool {
	if proc.GroupAlive(w.pid) {
		return true
	}
	if cg := s.contain.cgroupOf(w); cg != "" {
		populated, err := contain.Populated(cg)
		return err == nil && populated
	}
	return len(s.leftOf(w)) > 0
}

// signalLeft sends sig to every process left of w: its process group and
// its cgroup (with SIGKILL, cgroup.kill), or the socket holders that are
// w's or nobody's.
func (s *supervisor) signalLeft(w *worker, sig syscall.Signal) {
	unix.Kill(-w.pid, sig)
	if cg := s.contain.cgroupOf(w); cg != "" {
		var err error
		if sig == unix.SIGKILL {
			err = contain.Kill(cg)
		} else {
			err = contain.Signal(cg, sig)
		}
		if err != nil {
			s.log.Warn("signal the worker's cgroup", append(s.attrs(w), "signal", signame(sig), "err", err)...)
		}
		return
	}
	if pids := contain.SignalRounds(func() []int { return s.leftOf(w) }, sig); len(pids) > 0 {
		s.log.Info("signalled processes that left the process group", append(s.attrs(w), "signal", signame(sig), "pids", pids)...)
	}
}

// leftOf lists the processes holding zedr-run's sockets that belong to w
// or to no worker.
func (s *supervisor) leftOf(w *worker) []int {
	holders, err := contain.Holders(s.contain.inodes)
	if err != nil {
		s.log.Warn("find the processes holding the sockets", "err", err)
	}
	self := os.Getpid()
	var out []int
	for _, pid := range holders {
		if owner, ours := s.ownerOf(pid, self); ours && (owner == w || owner == nil) {
			out = append(out, pid)
		}
	}
	return out
}

// ownerOf finds the worker a process belongs to (see containment). ours
// is false for a process that is not zedr-run's descendant or that belongs
// to a worker that is still being started.
func (s *supervisor) ownerOf(pid, self int) (owner *worker, ours bool) {
	if pid == self {
		return nil, false
	}
	st, err := contain.ReadStat(pid)
	if err != nil {
		return nil, false
	}
	if w := s.findWorker(func(w *worker) bool { return w.pid == st.PGID }); w != nil {
		return w, true
	}
	p := pid
	for range 64 {
		if w := s.findWorker(func(w *worker) bool { return w.pid == p || w.mainPID == p }); w != nil {
			return w, true
		}
		if st.PPID == self {
			return s.ownerByEnv(pid)
		}
		if st.PPID <= 1 {
			return nil, false
		}
		p = st.PPID
		if st, err = contain.ReadStat(p); err != nil {
			return nil, false
		}
	}
	return nil, false
}

// ownerByEnv finds the worker a process reparented to zedr-run belongs to
// by its environment.
func (s *supervisor) ownerByEnv(pid int) (*worker, bool) {
	env, err := contain.Environ(pid)
	if err != nil {
		return nil, true
	}
	if v, _ := contain.Getenv(env, "NOTIFY_SOCKET"); v != s.contain.notify {
		return nil, true
	}
	gv, _ := contain.Getenv(env, "ZEDR_GENERATION")
	wv, _ := contain.Getenv(env, "ZEDR_WORKER")
	gen, err1 := strconv.Atoi(gv)
	slot, err2 := strconv.Atoi(wv)
	if err1 != nil || err2 != nil {
		return nil, true
	}
	if w := s.findWorker(func(w *worker) bool { return w.g.n == gen && w.slot == slot }); w != nil {
		return w, true
	}
	// The newest generation number may name a worker not yet recorded.
	return nil, gen < s.nextGen-1
}

func (s *supervisor) findWorker(match func(*worker) bool) *worker {
	for _, g := range s.gens {
		for _, w := range g.workers {
			if match(w) {
				return w
			}
		}
	}
	return nil
}
