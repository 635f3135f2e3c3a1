package wrapper

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
	"zedr-run/socketact"
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

// startChild starts worker slot of generation n through the shim and
// returns its pid once the command has been exec'd.
func (s *supervisor) startChild(n, slot int) (int, error) {
	name := s.cfg.Command[0]
	path, err := exec.LookPath(name)
	if err != nil {
		return 0, &StartError{name, err}
	}
	// The status channel: the shim writes why execve failed, or closes it
	// (close-on-exec) when execve succeeded.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, &StartError{name, fmt.Errorf("status channel: %w", err)}
	}
	ours, theirs := pair[0], pair[1]
	defer unix.Close(ours)

	files := []uintptr{0, 1, 2}
	var intercept reexec.Intercept
	if s.cfg.InterceptBind {
		if err := s.startIntercepting(); err != nil {
			return 0, &StartError{name, err}
		}
		intercept = s.intercept.shimIntercept()
	} else {
		for _, sock := range s.cfg.Sockets {
			files = append(files, sock.File.Fd())
		}
	}
	statusFD := len(files)
	files = append(files, uintptr(theirs))

	env := append([]string(nil), s.cfg.Env...)
	if len(s.cfg.Sockets) > 0 && !s.cfg.InterceptBind {
		env = append(env, socketact.ChildEnv(s.cfg.Sockets, s.cfg.Compat)...)
	}
	env = append(env, "NOTIFY_SOCKET="+s.notify.path, "ZEDR_GENERATION="+strconv.Itoa(n), "ZEDR_WORKER="+strconv.Itoa(slot))
	env = withUserEnv(env, s.cfg.UserEnv)

	sys := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cfg.Credential}
	defer s.contain.enter(sys, n, slot)()
	pid, err := spawn(reexec.SelfExe, reexec.ArgsWith(statusFD, intercept, path, s.cfg.Command), &syscall.ProcAttr{
		Dir:   s.cfg.Dir,
		Env:   env,
		Files: files,
		Sys:   sys,
	})
	unix.Close(theirs)
	if err != nil {
		return 0, &StartError{name, err}
	}
	msg, err := "", error(nil)
	if s.cfg.InterceptBind {
		msg, err = s.receiveListener(ours, n, pid)
	}
	if err == nil && msg == "" {
		msg, err = readStatus(ours)
	}
	if err != nil || msg != "" {
		if err == nil {
			err = errors.New(msg)
		}
		// The shim exits by itself after reporting; make sure of it.
		unix.Kill(pid, unix.SIGKILL)
		return pid, &StartError{name, err}
	}
	return pid, nil
}

// readStatus waits for the shim's report: "" once execve succeeded, or the
// shim's error message.
func readStatus(fd int) (string, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(execTimeout)
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("status channel: %w", err)
		}
		if n == 0 {
			return "", fmt.Errorf("no word from the shim in %v", execTimeout)
		}
		break
	}
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("status channel: %w", err)
		}
		return string(buf[:n]), nil
	}
}

// startProbe runs an exec: readiness probe for worker w through /bin/sh,
// as the children's user.
func (s *supervisor) startProbe(w *worker) (int, error) {
	env := append([]string(nil), s.cfg.Env...)
	env = append(env, "ZEDR_PID="+strconv.Itoa(w.mainPID), "ZEDR_GENERATION="+strconv.Itoa(w.g.n), "ZEDR_WORKER="+strconv.Itoa(w.slot))
	env = withUserEnv(env, s.cfg.UserEnv)
	return spawn("/bin/sh", []string{"sh", "-c", s.cfg.Ready.Command}, &syscall.ProcAttr{
		Dir:   s.cfg.Dir,
		Env:   env,
		Files: []uintptr{0, 2, 2}, // its output is zedr-run's diagnostics, not the service's stdout
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cfg.Credential},
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
