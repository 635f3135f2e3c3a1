package wrapper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
	"zedr-run/wrapper/proc"
)

// The spare shim (reexec: "A spare shim"): a shim forked ahead of time,
// off a restart's critical path, that waits on its status channel for what
// to run. A worker's start hands it the order (the command, environment,
// credentials and sockets) instead of forking a shim, which spares the
// restart the shim's own start-up (the Go runtime and package inits of
// zedr-run's binary, a few milliseconds); the shim's report then comes back
// on the same channel as a forked shim's (awaitExec), and the worker's pid
// is the spare's. One spare at most: after every start of a worker the
// next is forked on a goroutine (spareStarted), so the workers of a
// generation that start at once after the first take the fork path, as
// does any start while no spare is ready. The spare holds no socket and no
// ZEDR_* variable until its order, so the containment scan never takes it
// for a worker's; it ends by itself at EOF on its channel: when zedr-run
// closes it (shutdown) or dies (and by the parent-death signal).

// DefaultSpareShim is on: the spare takes the shim's start-up, about 5 ms
// of the 6-8 ms that were zedr-run's own share of a restart, off every
// restart, for one idle process's memory.
const DefaultSpareShim = true

// spareSendTimeout bounds the handing of an order to a spare that does not
// read it (stopped, or stuck): then the worker is forked as without a
// spare. A spare that reads takes microseconds; the bound only keeps the
// loop from waiting long on one that does not.
const spareSendTimeout = time.Second

// spareShim is a spare ready for an order.
type spareShim struct {
	pid     int
	status  *os.File // zedr-run's end of its status channel
	key     leafKey  // the worker whose cgroup it is in, with cgroups
	reserve int      // how many fds from 3 up it holds places for: the sockets and its status channel
}

// spareFDMargin is how many more descriptors than the sockets and stored
// fds of today a spare reserves, for the fd store's growth until its order.
const spareFDMargin = 16

// startSpare forks the next spare shim on a goroutine, after the start of
// worker w, unless there is one or one is being forked, or zedr-run is
// stopping. With cgroups the spare starts in the leaf of the worker that
// most likely starts next (clone3 into it, as a forked shim: moving a
// process later by cgroup.procs takes the kernel 10-20 ms, more than the
// shim's start-up it saves); a start of another worker forks as without
// a spare.
func (s *supervisor) startSpare(w *worker) {
	key := leafKey{s.nextGen, 0}
	if w.g.rolling && w.slot+1 < max(1, s.cfg.Workers) {
		key = leafKey{w.g.n, w.slot + 1}
	}
	s.startSpareFor(key)
}

// startSpareFor forks a spare for worker key (its cgroup, with cgroups).
// After a reexec, the one before the exec is gone (its channel closed on
// exec) and restore forks the next.
func (s *supervisor) startSpareFor(key leafKey) {
	if !s.cfg.SpareShim || s.spare != nil || s.spareForking || s.stopping {
		return
	}
	cgroupFD := -1
	if t := s.contain.tree; t != nil {
		_, fd, err := t.Leaf(leafName(key.gen, key.slot))
		if err != nil {
			return
		}
		cgroupFD = fd
	}
	// The spare's fds 3 and up hold places for the sockets: the Go
	// runtime's own descriptors (epoll, cgroup files) go above them, where
	// placing the sockets cannot overwrite them before the exec.
	reserve := 1 + len(s.cfg.Sockets) + len(s.store) + spareFDMargin
	if s.cfg.InterceptBind {
		reserve = 1
	}
	s.spareForking = true
	dir := s.cfg.Dir
	go func() {
		pid, status, err := forkSpare(dir, reserve, cgroupFD)
		if cgroupFD >= 0 {
			unix.Close(cgroupFD)
		}
		s.post(spareStarted{pid: pid, status: status, err: err, key: key, reserve: reserve})
	}()
}

// forkSpare forks a spare as startChild forks a shim: by the spawner
// thread, in its own process group, with the parent-death signal, in the
// cgroup cgroupFD (-1: none); but as zedr-run's user, with no environment
// but its order's to come, and with /dev/null at fds 4 to 3+reserve-1,
// places for the sockets.
func forkSpare(dir string, reserve, cgroupFD int) (int, *os.File, error) {
	null, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, nil, err
	}
	defer unix.Close(null)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("status channel: %w", err)
	}
	ours, theirs := pair[0], pair[1]
	if err := unix.SetNonblock(ours, true); err != nil {
		unix.Close(ours)
		unix.Close(theirs)
		return 0, nil, fmt.Errorf("status channel: %w", err)
	}
	status := os.NewFile(uintptr(ours), "spare shim's status channel")
	const statusFD = 3
	files := []uintptr{0, 1, 2, uintptr(theirs)}
	for range reserve - 1 {
		files = append(files, uintptr(null))
	}
	sys := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cgroupFD >= 0 {
		sys.UseCgroupFD, sys.CgroupFD = true, cgroupFD
	}
	pid, err := proc.Spawn(reexec.SelfExe, reexec.SpareArgs(statusFD, reserve), &syscall.ProcAttr{
		Dir:   dir,
		Env:   []string{},
		Files: files,
		Sys:   sys,
	})
	unix.Close(theirs)
	if err != nil {
		status.Close()
		return 0, nil, err
	}
	return pid, status, nil
}

// onSpareStarted keeps the spare just forked for the next start.
func (s *supervisor) onSpareStarted(ev spareStarted) {
	s.spareForking = false
	if ev.err != nil {
		// The next start forks its shim as without a spare, and tries again.
		s.log.Warn("spare shim not started", "err", ev.err)
		return
	}
	if s.stopping || s.spare != nil || (s.contain.tree != nil && s.workerAt(ev.key) != nil) {
		// With cgroups: its worker was forked meanwhile; it must not
		// linger in that worker's cgroup.
		ev.status.Close()
		return
	}
	s.spare = &spareShim{pid: ev.pid, status: ev.status, key: ev.key, reserve: ev.reserve}
	s.log.Debug("spare shim ready", "pid", ev.pid)
}

// spareExited reports whether pid was the spare, which is then dropped: a
// spare is nothing to the generations, it just is not there any more.
func (s *supervisor) spareExited(e exitEvent) bool {
	if s.spare == nil || s.spare.pid != e.PID {
		return false
	}
	s.log.Debug("spare shim exited", "pid", e.PID, "status", proc.Describe(e.Status))
	s.closeSpare()
	return true
}

// closeSpare lets the spare go: it exits at EOF.
func (s *supervisor) closeSpare() {
	if s.spare != nil {
		s.spare.status.Close()
		s.spare = nil
	}
}

// startFromSpare hands worker slot of generation n to the spare, if one is
// ready: into the worker's cgroup, then the order. It returns the spare's
// pid and status channel, or ok false when the worker must be forked.
func (s *supervisor) startFromSpare(n, slot int, path string, env []string, sockets []uintptr, ic reexec.Intercept) (pid int, status *os.File, ok bool) {
	sp := s.spare
	if sp == nil {
		return 0, nil, false
	}
	s.spare = nil
	var err error
	switch {
	case s.contain.tree != nil && sp.key != (leafKey{n, slot}):
		err = fmt.Errorf("it is in the cgroup of generation %d worker %d", sp.key.gen, sp.key.slot)
	case len(sockets)+1 > sp.reserve:
		err = fmt.Errorf("it holds places for %d descriptors, not %d", sp.reserve, len(sockets)+1)
	default:
		s.contain.entered(n, slot)
		files := make([]int, len(sockets))
		for i, fd := range sockets {
			files[i] = int(fd)
		}
		order := reexec.Order{Path: path, Argv: s.cfg.Command, Env: env, Intercept: ic, Credential: s.cfg.Credential}
		err = reexec.SendOrder(sender(sp.status), order, files)
	}
	if err != nil {
		s.log.Debug("spare shim not used: the worker is forked", "gen", n, "worker", slot, "pid", sp.pid, "err", err)
		sp.status.Close()
		return 0, nil, false
	}
	sp.status.SetWriteDeadline(time.Time{})
	s.log.Debug("started from the spare shim", "gen", n, "worker", slot, "pid", sp.pid)
	return sp.pid, sp.status, true
}

// sender sends messages on status, waiting for room at most
// spareSendTimeout in all.
func sender(status *os.File) func(p, oob []byte) error {
	status.SetWriteDeadline(time.Now().Add(spareSendTimeout))
	return func(p, oob []byte) error {
		raw, err := status.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = raw.Write(func(fd uintptr) bool {
			serr = unix.Sendmsg(int(fd), p, oob, nil, unix.MSG_NOSIGNAL)
			return serr != unix.EAGAIN && serr != unix.EINTR
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("the spare read nothing in %v", spareSendTimeout)
		}
		if err != nil {
			return err
		}
		return serr
	}
}

// entered notes that worker (gen, slot) runs in its leaf, as enter does
// for a forked one: the spare started there.
func (c *containment) entered(gen, slot int) {
	if c.tree != nil {
		c.leaves[leafKey{gen, slot}] = filepath.Join(c.tree.Dir, leafName(gen, slot))
	}
}

// workerAt is the worker (gen, slot), or nil.
func (s *supervisor) workerAt(k leafKey) *worker {
	for _, g := range s.gens {
		if g.n != k.gen {
			continue
		}
		for _, w := range g.workers {
			if w.slot == k.slot {
				return w
			}
		}
	}
	return nil
}
