package wrapper

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
	"zedr-run/socketact"
	"zedr-run/wrapper/proc"
)

// execTimeout bounds the wait for the shim to report that it exec'd the
// command. The shim does nothing but start up and execve, so this is only
// reached on a machine that is stuck.
const execTimeout = 30 * time.Second

// StartError is a child that could not be started: the command was not
// found, was not executable, or the fork failed.
type StartError struct {
	Command string
	Err     error
}

func (e *StartError) Error() string { return fmt.Sprintf("start %s: %v", e.Command, e.Err) }
func (e *StartError) Unwrap() error { return e.Err }

// startChild starts worker slot of generation n through the shim: the
// spare (spare_linux.go) if one is ready and fits, else a shim forked now.
// It returns the shim's pid and zedr-run's end of the status channel, on
// which the shim reports whether it exec'd the command: awaitExec reads it,
// off the loop. An error means that no process was started.
func (s *supervisor) startChild(n, slot int) (int, *os.File, error) {
	name := s.cfg.Command[0]
	path, err := exec.LookPath(name)
	if err != nil {
		return 0, nil, &StartError{name, err}
	}
	var intercept reexec.Intercept
	if s.cfg.InterceptBind {
		if err := s.startIntercepting(); err != nil {
			return 0, nil, &StartError{name, err}
		}
		intercept = s.intercept.ShimIntercept()
	}
	env := s.childEnv(n, slot)
	if pid, status, ok := s.startFromSpare(n, slot, path, env, intercept); ok {
		return pid, status, nil
	}

	sys := s.shimAttr()
	defer s.contain.enter(sys, n, slot)()
	argv := func(statusFD int) []string { return reexec.ArgsWith(statusFD, intercept, path, s.cfg.Command) }
	pid, status, err := spawnShim(argv, s.cfg.Dir, env, s.childFiles(), sys)
	if err != nil {
		return 0, nil, &StartError{name, err}
	}
	return pid, status, nil
}

// spawnShim forks zedr-run as a shim (or a spare, by argv, which gets the
// status channel's fd) with files from fd 0 up and its status channel
// just above them, and returns its pid and zedr-run's end of the channel.
func spawnShim(argv func(statusFD int) []string, dir string, env []string, files []uintptr, sys *syscall.SysProcAttr) (int, *os.File, error) {
	status, theirs, err := statusChannel()
	if err != nil {
		return 0, nil, err
	}
	statusFD := len(files)
	pid, err := proc.Spawn(reexec.SelfExe, argv(statusFD), &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: append(slices.Clip(files), uintptr(theirs)),
		Sys:   sys,
	})
	unix.Close(theirs)
	if err != nil {
		status.Close()
		return 0, nil, err
	}
	return pid, status, nil
}

// childFiles is what the command gets from fd 0 up: 0-2, then the sockets
// and the fd store (in transparent mode neither: its binds get them).
func (s *supervisor) childFiles() []uintptr {
	files := []uintptr{0, 1, 2}
	if !s.cfg.InterceptBind {
		for _, sock := range s.cfg.Sockets {
			files = append(files, sock.File.Fd())
		}
	}
	for _, fd := range s.passedStore() {
		files = append(files, fd.file.Fd()) // after the sockets
	}
	return files
}

// passedStore is the part of the fd store that the command gets: all of
// it, or none in transparent mode.
func (s *supervisor) passedStore() []*storedFD {
	if s.cfg.InterceptBind {
		return nil
	}
	return s.store
}

// childEnv is the environment of worker slot of generation n.
func (s *supervisor) childEnv(n, slot int) []string {
	env := append([]string(nil), s.cfg.Env...)
	if !s.cfg.InterceptBind {
		env = append(env, socketact.ChildEnvStored(s.cfg.Sockets, s.storedNames(), s.cfg.Compat)...)
	}
	env = append(env, "NOTIFY_SOCKET="+s.notify.Path(), "ZEDR_GENERATION="+strconv.Itoa(n), "ZEDR_WORKER="+strconv.Itoa(slot))
	env = append(env, s.watchdogEnv()...)
	return withUserEnv(env, s.cfg.UserEnv)
}

// shimAttr is how a shim is forked: in its own process group, with the
// parent-death signal, as the command's user.
func (s *supervisor) shimAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cfg.Credential}
}

// statusChannel is a shim's status channel: zedr-run's end, non-blocking
// for the runtime's poller, and the shim's, blocking. The shim writes why
// execve failed, or closes its end (close-on-exec) when execve succeeded.
func statusChannel() (*os.File, int, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, -1, fmt.Errorf("status channel: %w", err)
	}
	ours, theirs := pair[0], pair[1]
	if err := unix.SetNonblock(ours, true); err != nil {
		unix.Close(ours)
		unix.Close(theirs)
		return nil, -1, fmt.Errorf("status channel: %w", err)
	}
	return os.NewFile(uintptr(ours), "status channel"), theirs, nil
}

// execEvent is the shim's report for worker w: nil once it exec'd the
// command, or a *StartError.
type execEvent struct {
	w   *worker
	err error
	at  time.Time // when the report was read (zero: when handled), for the restart's phases
	// execBegan is when the shim said it was about to exec (zero: it did
	// not say), for the restart's phases.
	execBegan time.Time
}

// awaitExec runs on its own goroutine for each worker started: it reads
// what the shim of worker w (process pid of generation gen) reports on the
// status channel, and posts it as an execEvent. It touches no state of the
// loop's: w only travels with the event.
func (s *supervisor) awaitExec(w *worker, status *os.File, gen, pid int) {
	defer status.Close()
	status.SetReadDeadline(time.Now().Add(execTimeout))
	var err error
	if s.cfg.InterceptBind {
		err = s.receiveListener(status, gen, pid)
	}
	var execBegan time.Time
	if err == nil {
		execBegan, err = readStatus(status)
	}
	if err != nil {
		err = &StartError{s.cfg.Command[0], err}
	}
	s.post(execEvent{w: w, err: err, at: time.Now(), execBegan: execBegan})
}

// readStatus waits for the shim's report: nil once execve succeeded (the
// channel closed), or the shim's error message; and when the shim said it
// was about to exec (reexec.ExecMessage), zero if it did not.
func readStatus(status *os.File) (execBegan time.Time, err error) {
	buf := make([]byte, 4096)
	for {
		n, _, err := recvStatus(status, buf, nil)
		switch {
		case err != nil:
			return execBegan, err
		case n == 0:
			return execBegan, nil
		case reexec.IsExecMessage(buf[:n]):
			execBegan = time.Now()
		default:
			return execBegan, errors.New(string(buf[:n]))
		}
	}
}

// recvStatus receives one message from the status channel, waiting until
// its read deadline. n == 0 means the shim's end was closed.
func recvStatus(status *os.File, buf, oob []byte) (n, oobn int, err error) {
	raw, err := status.SyscallConn()
	if err != nil {
		return 0, 0, fmt.Errorf("status channel: %w", err)
	}
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, 0, fmt.Errorf("no word from the shim in %v", execTimeout)
	case err != nil:
		return 0, 0, fmt.Errorf("status channel: %w", err)
	case rerr != nil:
		return 0, 0, fmt.Errorf("status channel: %w", rerr)
	}
	return n, oobn, nil
}

// startProbe runs an exec: readiness probe for worker w, directly or
// through the shell (command_linux.go), as the children's user.
func (s *supervisor) startProbe(w *worker) (int, error) {
	env := append([]string(nil), s.cfg.Env...)
	env = append(env, "ZEDR_PID="+strconv.Itoa(w.mainPID), "ZEDR_GENERATION="+strconv.Itoa(w.g.n), "ZEDR_WORKER="+strconv.Itoa(w.slot))
	env = withUserEnv(env, s.cfg.UserEnv)
	path, argv, err := commandPath(s.cfg.Ready.Command)
	if err != nil {
		return 0, err
	}
	return proc.Spawn(path, argv, &syscall.ProcAttr{
		Dir:   s.cfg.Dir,
		Env:   env,
		Files: []uintptr{0, 2, 2}, // its output is zedr-run's diagnostics, not the service's stdout
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cfg.Credential},
	})
}
