package reexec

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"zedr-run/internal/contain"
)

// ShimName is argv[0] of a process that is the shim. Init dispatches on it.
const ShimName = "zedr-run-shim"

// SelfExe is how zedr-run re-executes itself: the running binary, even if
// the file on disk has been replaced or os.Args[0] is a relative name.
const SelfExe = "/proc/self/exe"

// ExecMessage is what a shim sends on its status channel right before its
// execve. The channel's end of file comes when the execve has finished
// (the kernel releases the shim's descriptors on the way back to user
// space): the time between the two is the kernel's exec, which replaces
// the shim (its threads and memory torn down) by the command (its image
// loaded), and which a restart's phases tell apart from the shim's own
// work. No error report is like it: it begins with a NUL.
const ExecMessage = "\x00execve"

// IsExecMessage reports whether a status channel payload is ExecMessage.
func IsExecMessage(b []byte) bool { return string(b) == ExecMessage }

// Exit codes of a shim whose execve failed, as POSIX shells use them.
const (
	ExitNotFound      = 127
	ExitNotExecutable = 126
)

// Args returns the argv that starts the shim: it will execute path with argv
// (argv[0] is what the program sees as its name), reporting on statusFD.
func Args(statusFD int, path string, argv []string) []string {
	args := make([]string, 0, len(argv)+3)
	args = append(args, ShimName, strconv.Itoa(statusFD), path)
	return append(args, argv...)
}

// ArgsWith is Args for a shim that installs the transparent mode's filter
// first and sends its notification fd on statusFD before the exec.
func ArgsWith(statusFD int, ic Intercept, path string, argv []string) []string {
	args := Args(statusFD, path, argv)
	if !ic.Bind {
		return args
	}
	return append([]string{args[0], ic.arg()}, args[1:]...)
}

// Init runs the shim if this process is one, and never returns in that case.
// It reports false otherwise. main calls it before anything else.
func Init() bool {
	switch filepath.Base(os.Args[0]) {
	case ShimName:
		// The shim must exec from the thread zedr-run forked: the
		// parent-death signal belongs to that thread (new threads start
		// without it), and so do the seccomp filter and no_new_privs of
		// transparent mode. main locks its goroutine to that thread in
		// init, before any other goroutine runs; this lock keeps it there.
		runtime.LockOSThread()
		os.Exit(run(os.Args[1:]))
	case GuardianName:
		os.Exit(guardian())
	case SelfTestName:
		os.Exit(selfTest(os.Args[1:]))
	}
	return false
}

func run(args []string) int {
	if len(args) == 2 && args[0] == spareFlag {
		statusFD, err := strconv.Atoi(args[1])
		if err != nil || statusFD < 3 {
			fmt.Fprintf(os.Stderr, "%s: bad status fd %q\n", ShimName, args[1])
			return 2
		}
		return spare(statusFD)
	}
	var ic Intercept
	if len(args) > 0 && strings.HasPrefix(args[0], interceptFlag) {
		var err error
		if ic, err = parseIntercept(args[0]); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", ShimName, err)
			return 2
		}
		args = args[1:]
	}
	if len(args) < 3 {
		fmt.Fprintf(os.Stderr, "%s: started without a command; it is run by zedr-run, not by hand\n", ShimName)
		return 2
	}
	statusFD, err := strconv.Atoi(args[0])
	if err != nil || statusFD < 3 {
		fmt.Fprintf(os.Stderr, "%s: bad status fd %q\n", ShimName, args[0])
		return 2
	}
	path, argv := args[1], args[2:]
	if ic.Bind {
		err = intercept(statusFD, ic)
	}
	if err == nil {
		err = execveEnv(statusFD, path, argv, os.Environ())
	}
	report(statusFD, err)
	if errors.Is(err, unix.ENOENT) {
		return ExitNotFound
	}
	return ExitNotExecutable
}

// intercept installs the filter and hands its listener to zedr-run.
func intercept(statusFD int, ic Intercept) error {
	fd, err := installFilter(ic)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return sendListener(statusFD, fd)
}

// execveEnv replaces the shim with the command, with environment env. It
// returns only on failure.
func execveEnv(statusFD int, path string, argv, env []string) error {
	env = append([]string(nil), env...)
	if v, _ := contain.Getenv(env, "LISTEN_FDS"); v != "" {
		env = setenv(env, "LISTEN_PID", strconv.Itoa(os.Getpid()))
	}
	// The watchdog is the command's, whose pid is the shim's (systemd's
	// WATCHDOG_PID, sd_watchdog_enabled(3)).
	if v, _ := contain.Getenv(env, "WATCHDOG_USEC"); v != "" {
		env = setenv(env, "WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	}
	// The status channel and everything above it close on exec: the
	// command gets fds 0-2 and the sockets below statusFD, nothing else,
	// not even a descriptor zedr-run itself inherited without close-on-exec.
	if err := cloexecFrom(statusFD); err != nil {
		return fmt.Errorf("close-on-exec from fd %d: %w", statusFD, err)
	}
	// The command starts with no signal blocked, as under systemd, whatever
	// zedr-run's own threads have blocked (a re-executed zedr-run starts
	// with its signals blocked until it catches them).
	unix.PthreadSigmask(unix.SIG_SETMASK, &unix.Sigset_t{}, nil)
	unix.Write(statusFD, []byte(ExecMessage)) // only for the timing: lost, it costs nothing else
	if err := unix.Exec(path, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

// report tells zedr-run why the command did not start. The message is the
// whole datagram; zedr-run prints it with the generation it belongs to.
func report(statusFD int, err error) {
	msg := []byte(err.Error())
	if _, werr := unix.Write(statusFD, msg); werr != nil {
		// Nobody to tell but stderr.
		fmt.Fprintf(os.Stderr, "%s: %v\n", ShimName, err)
	}
}

func setenv(env []string, key, value string) []string {
	out := env[:0]
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			continue
		}
		out = append(out, kv)
	}
	return append(out, key+"="+value)
}

// cloexecFrom marks every fd from first up close-on-exec. It only sets the
// flag, so the Go runtime's own descriptors keep working until execve.
func cloexecFrom(first int) error {
	err := unix.CloseRange(uint(first), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11: walk the open descriptors.
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return err
	}
	for _, e := range entries {
		fd, _ := strconv.Atoi(e.Name())
		if fd >= first {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return nil
}
