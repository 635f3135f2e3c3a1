package wrapper

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/contain"
)

// A child may name another process its main process with MAINPID= (a
// server that daemonizes). zedr-run then forwards signals to that process
// and stops it: so the name is untrusted input from a process that may run
// as another user. As systemd accepts MAINPID= only for a process in the
// unit's cgroup, zedr-run accepts it only for a live process of the same
// worker (see belongsTo) that runs as the children's user, and holds it by
// a pidfd from then on, so that a pid reused after that process ended is
// never signalled.

// nameMain handles MAINPID=v sent by sender, a process of w: it accepts
// the pid, or refuses it with a warning naming the sender.
func (s *supervisor) nameMain(w *worker, sender int, v string) {
	pid, err := parsePid(v)
	if err == nil && pid == w.mainPID {
		return
	}
	// Hold the process before checking it, and check it is still the one
	// held after: a pid reused between the check and the hold would be
	// another process's.
	fd := -1
	if err == nil && pid != w.pid {
		if fd, err = unix.PidfdOpen(pid, 0); err != nil {
			fd, err = -1, nil // no pidfds (Linux < 5.3): the pid as is
		}
	}
	if err == nil {
		err = s.belongsTo(pid, w)
	}
	if err == nil && fd >= 0 && pidfdExited(fd) {
		err = fmt.Errorf("pid=%d exited while it was checked", pid)
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		s.log.Warn("refused MAINPID= from a child", append(s.attrs(w), "sender", sender, "mainpid", v, "reason", err)...)
		return
	}
	s.log.Info("child named its main process", "gen", w.g.n, "pid", pid, "was", w.mainPID, "sender", sender)
	s.holdMain(w, pid, fd)
}

// setMain makes pid w's main process. A process other than w's own is
// held by a pidfd and watched, since zedr-run may not be its parent.
// Without pidfds (Linux < 5.3) the pid is used as is.
func (s *supervisor) setMain(w *worker, pid int) {
	fd := -1
	if pid != w.pid {
		if f, err := unix.PidfdOpen(pid, 0); err == nil {
			fd = f
		}
	}
	s.holdMain(w, pid, fd)
}

// holdMain makes pid, held by pidfd fd (-1: none), w's main process, and
// watches fd for its end.
func (s *supervisor) holdMain(w *worker, pid, fd int) {
	w.closeMain()
	w.mainPID = pid
	if fd < 0 {
		return
	}
	w.mainFD = &pidfd{fd: fd, stop: -1}
	watch, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return
	}
	var stop [2]int
	if err := unix.Pipe2(stop[:], unix.O_CLOEXEC); err != nil {
		unix.Close(watch)
		return
	}
	w.mainFD.stop = stop[1]
	go watchMain(watch, stop[0], func() { s.post(mainGone{w, pid}) }, s.done)
}

// pidfdExited reports whether the process behind pidfd fd has exited.
func pidfdExited(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// pidfd holds a process that is not zedr-run's own child. stop is the
// write end of a pipe whose closing ends the process's watchMain (-1: none
// runs), so that a child naming one main process after another in a loop
// leaves one watcher, not one (and its descriptors) per name.
type pidfd struct{ fd, stop int }

// belongsTo says why pid cannot be w's main process, or nil if it can: it
// must be alive, run as the children's user when --user is set, and belong
// to w — w's own process, in w's process group, a descendant of w's
// processes, or an orphan zedr-run adopted (it is the subreaper) whose
// environment still names w's generation and worker.
func (s *supervisor) belongsTo(pid int, w *worker) error {
	st, err := contain.ReadStat(pid)
	if err != nil {
		return fmt.Errorf("no such process pid=%d", pid)
	}
	if st.State == 'Z' || st.State == 'X' {
		return fmt.Errorf("pid=%d has exited", pid)
	}
	if c := s.cfg.Credential; c != nil {
		ruid, euid, err := contain.ReadUIDs(pid)
		if err != nil {
			return fmt.Errorf("pid=%d: %w", pid, err)
		}
		if ruid != int(c.Uid) || euid != int(c.Uid) {
			return fmt.Errorf("pid=%d runs as uid %d (effective %d), not as the children's uid %d", pid, ruid, euid, c.Uid)
		}
	}
	if owner, _ := s.ownerOf(pid, os.Getpid()); owner != w {
		return fmt.Errorf("pid=%d is not a process of generation %d worker %d", pid, w.g.n, w.slot)
	}
	return nil
}

// closeMain lets go of w's pidfd, once w is forgotten or names another
// main process.
func (w *worker) closeMain() {
	if w.mainFD != nil {
		unix.Close(w.mainFD.fd)
		if w.mainFD.stop >= 0 {
			unix.Close(w.mainFD.stop)
		}
		w.mainFD = nil
	}
}

// signalMain sends sig to w's main process, through its pidfd when it has
// one, so that a pid reused by an unrelated process is never signalled.
func (w *worker) signalMain(sig syscall.Signal) error {
	if w.mainFD != nil {
		return unix.PidfdSendSignal(w.mainFD.fd, sig, nil, 0)
	}
	return unix.Kill(w.mainPID, sig)
}

// mainGone is the exit of a main process named with MAINPID=, seen on its
// pidfd: a process that zedr-run may never reap, because another process
// of the generation is its parent.
type mainGone struct {
	w   *worker
	pid int
}

// watchMain calls gone once the process behind pidfd fd has exited, or
// returns when done is closed or the pipe whose read end is stop is closed
// (the process is no longer the main one); either way it closes fd, its own
// copy, and stop. It polls with a timeout so that it notices done.
func watchMain(fd, stop int, gone func(), done <-chan struct{}) {
	defer unix.Close(fd)
	defer unix.Close(stop)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stop), Events: unix.POLLIN}}
	for {
		select {
		case <-done:
			return
		default:
		}
		n, err := unix.Poll(fds, 1000)
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		if err == nil && fds[1].Revents != 0 {
			return // no longer the main process
		}
		gone()
		return
	}
}

// onMainGone handles the end of a named main process. If zedr-run is its
// parent, the reaper reports the exit with its status; otherwise it was
// reaped by another process of the generation, and its status is unknown.
func (s *supervisor) onMainGone(ev mainGone) {
	w := ev.w
	if w.mainExited || w.mainPID != ev.pid || w.state == exited {
		return
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, ev.pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err == nil {
		return // a zombie of ours: the reaper has it
	}
	w.statusUnknown = true
	s.onMainExit(w, 0)
	s.sweep()
}

// mainAlive reports whether w's main process may still run.
func (w *worker) mainAlive() bool {
	if w.mainExited {
		return false
	}
	if w.mainFD != nil {
		return !pidfdExited(w.mainFD.fd)
	}
	err := unix.Kill(w.mainPID, 0)
	return err == nil || err == unix.EPERM
}

// killGrace is how long zedr-run waits after SIGKILLing a generation at its
// stop timeout before it looks again for what is left: a main process
// reaped by someone else, or one it never hears of, must not leave a
// generation draining forever.
const killGrace = time.Second
