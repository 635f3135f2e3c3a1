package wrapper

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
	"zedr-run/wrapper/proc"
)

// The spare shim (reexec: "A spare shim"): a shim forked ahead of time,
// off a restart's critical path, exactly as a worker's shim is forked
// (the same descriptors in the same places, user, directory, process
// group, parent-death signal, cgroup leaf), which then waits on its status
// channel for what to run. A worker's start hands it the order (the
// command, its environment, the interception: one datagram) instead of
// forking a shim, which spares the restart the shim's own start-up (the
// Go runtime and package inits of zedr-run's binary, several
// milliseconds) whatever the number of sockets: they are in place from
// the fork. The shim's report then comes back on the same channel as a
// forked shim's (awaitExec), and the worker's pid is the spare's.
//
// One spare at most: after every start of a worker the next is forked on
// a goroutine (spareStarted), so the workers of a generation that start
// at once after the first take the fork path, as does any start while no
// spare is ready or when what the children get has changed since the
// spare was forked (the fd store). The spare has no environment until its
// order, so the containment scan, which finds workers by their ZEDR_*
// variables, never takes it for one; it ends by itself at EOF on its
// channel: when zedr-run closes it (shutdown, a spare that no longer
// fits), execs itself (close-on-exec) or dies (and by the parent-death
// signal), so it never keeps a socket after zedr-run.

// DefaultSpareShim is on: the spare takes the shim's start-up, about 4 ms
// of the 4-8 ms that were zedr-run's own share of a restart, off every
// restart, for one idle process's memory (3.4 MiB PSS).
const DefaultSpareShim = true

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

// spareShim is a spare ready for an order.
type spareShim struct {
	pid    int
	status *os.File // zedr-run's end of its status channel
	key    leafKey  // the worker whose cgroup it is in, with cgroups
	// store is the fd store it got at its fork (after the sockets), which
	// must still be the store when it is used.
	store []*storedFD
}

// startSpareFor forks a spare for worker key (its cgroup, with cgroups),
// on a goroutine: the spawner forks it as it forks a shim, with what
// startChild would give a shim now. After a reexec, the one before the
// exec is gone (its channel closed on exec) and restore forks the next.
func (s *supervisor) startSpareFor(key leafKey) {
	if !s.cfg.SpareShim || s.spare != nil || s.spareForking || s.stopping {
		return
	}
	files, store := s.childFiles(), slices.Clone(s.passedStore())
	// The loop may close a stored fd while the goroutine forks: the fork
	// gets duplicates of them, the same open files.
	var dups []int
	closeDups := func() {
		for _, fd := range dups {
			unix.Close(fd)
		}
	}
	for i := len(files) - len(store); i < len(files); i++ {
		fd, err := unix.FcntlInt(files[i], unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			closeDups()
			s.log.Warn("spare shim not started", "err", fmt.Errorf("duplicate stored fd %d: %w", files[i], err))
			return
		}
		dups = append(dups, fd)
		files[i] = uintptr(fd)
	}
	sys := s.shimAttr()
	tree := s.contain.tree
	s.spareForking = true
	dir := s.cfg.Dir
	go func() {
		defer closeDups()
		if tree != nil {
			// The leaf's mkdir takes the kernel a while: off the loop.
			_, fd, err := tree.Leaf(leafName(key.gen, key.slot))
			if err != nil {
				s.post(spareStarted{err: err, key: key})
				return
			}
			defer unix.Close(fd)
			sys.UseCgroupFD, sys.CgroupFD = true, fd
		}
		// No environment until its order.
		pid, status, err := spawnShim(reexec.SpareArgs, dir, []string{}, files, sys)
		s.post(spareStarted{pid: pid, status: status, err: err, key: key, store: store})
	}()
}

// onSpareStarted keeps the spare just forked for the next start.
func (s *supervisor) onSpareStarted(ev spareStarted) {
	s.spareForking = false
	if ev.err != nil {
		// The next start forks its shim as without a spare, and tries again.
		s.log.Warn("spare shim not started", "err", ev.err)
		return
	}
	if s.stopping || s.spare != nil || (s.contain.tree != nil && s.findWorker(func(w *worker) bool { return w.g.n == ev.key.gen && w.slot == ev.key.slot }) != nil) {
		// With cgroups: its worker was forked meanwhile; it must not
		// linger in that worker's cgroup.
		ev.status.Close()
		return
	}
	s.spare = &spareShim{pid: ev.pid, status: ev.status, key: ev.key, store: ev.store}
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

// spareSettle is how long the fd store must stay unchanged before a spare
// dropped for a change of it is forked again: a child that stores fds one
// by one, or all the time, costs at most one fork of zedr-run per
// interval, and the common case, a generation storing its fds as it
// starts or drains, gets its spare back a second after.
const spareSettle = time.Second

// dropStaleSpare lets the spare go once what it holds is no longer what a
// worker gets, the fd store having changed (a stored fd that was removed
// must not stay open in it), and forks the next once the store settles.
// The loop checks after every event.
func (s *supervisor) dropStaleSpare() {
	if s.spare == nil || slices.Equal(s.spare.store, s.passedStore()) {
		return
	}
	s.log.Debug("spare shim dropped: the fd store changed", "pid", s.spare.pid)
	key := s.spare.key
	s.closeSpare()
	if s.spareTimer != nil {
		s.spareTimer.Stop()
	}
	s.spareTimer = s.after(spareSettle, spareDue{key})
}

// onSpareDue forks the spare dropped for a change of the fd store, unless
// another is ready or being forked.
func (s *supervisor) onSpareDue(ev spareDue) {
	s.spareTimer = nil
	s.startSpareFor(ev.key)
}

// startFromSpare hands worker slot of generation n to the spare, if one is
// ready and fits: its order, one datagram that the channel's buffer holds,
// never waits. It returns the spare's pid and status channel, or ok false
// when the worker must be forked.
func (s *supervisor) startFromSpare(n, slot int, path string, env []string, ic reexec.Intercept) (pid int, status *os.File, ok bool) {
	sp := s.spare
	if sp == nil {
		return 0, nil, false
	}
	s.spare = nil
	var err error
	switch {
	case s.contain.tree != nil && sp.key != (leafKey{n, slot}):
		err = fmt.Errorf("it is in the cgroup of generation %d worker %d", sp.key.gen, sp.key.slot)
	case !slices.Equal(sp.store, s.passedStore()):
		err = fmt.Errorf("the fd store changed since its fork")
	default:
		var order []byte
		if order, err = reexec.EncodeOrder(reexec.Order{Path: path, Argv: s.cfg.Command, Env: env, Intercept: ic}); err == nil {
			err = sendOrder(sp.status, order)
		}
	}
	if err != nil {
		s.log.Debug("spare shim not used: the worker is forked", "gen", n, "worker", slot, "pid", sp.pid, "err", err)
		sp.status.Close()
		return 0, nil, false
	}
	s.contain.entered(n, slot)
	s.log.Debug("started from the spare shim", "gen", n, "worker", slot, "pid", sp.pid)
	return sp.pid, sp.status, true
}

// sendOrder sends the order without waiting: the spare has read nothing
// before it, so the channel's buffer is empty. A spare that is gone makes
// it fail (EPIPE, no signal).
func sendOrder(status *os.File, order []byte) error {
	raw, err := status.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), order, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
		return true
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("send the order: %w", serr)
	}
	return nil
}

// entered notes that worker (gen, slot) runs in its leaf, as enter does
// for a forked one: the spare started there.
func (c *containment) entered(gen, slot int) {
	if c.tree != nil {
		c.leaves[leafKey{gen, slot}] = filepath.Join(c.tree.Dir, leafName(gen, slot))
	}
}
