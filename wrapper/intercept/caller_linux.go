package intercept

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
)

// caller is the process that made a call, opened by pidfd once the
// notification is known to be still valid.
type caller struct {
	tgid  int
	pidfd int
}

func openCaller(listener int, n *seccomp.Notif) (*caller, error) {
	tgid, err := tgidOf(int(n.Pid))
	if err != nil {
		return nil, err
	}
	pidfd, err := unix.PidfdOpen(tgid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open pid=%d: %w", tgid, err)
	}
	// Checked after the pidfd is open: it refers to the process that made
	// the call, not to one that reused its pid.
	if !seccomp.Valid(listener, n.ID) {
		unix.Close(pidfd)
		return nil, unix.ENOENT
	}
	return &caller{tgid: tgid, pidfd: pidfd}, nil
}

func (c *caller) close() { unix.Close(c.pidfd) }

// openCallerFD opens the caller of n and a copy of its fd in zedr-run
// (close-on-exec); the caller of openCallerFD closes both. theirs is -1,
// with no error, when fd is not open in the caller: the call then runs and
// the kernel answers it (EBADF) itself.
func openCallerFD(listener int, n *seccomp.Notif, fd int) (c *caller, theirs int, err error) {
	if c, err = openCaller(listener, n); err != nil {
		return nil, -1, err
	}
	if theirs, err = seccomp.PidfdGetfd(c.pidfd, fd); err != nil {
		return c, -1, nil
	}
	return c, theirs, nil
}

// tgidOf returns the process a thread belongs to.
func tgidOf(tid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no Tgid in /proc/%d/status", tid)
}

// fdFlags returns the open flags of fd in process pid, O_CLOEXEC included
// (/proc/PID/fdinfo/FD).
func fdFlags(pid, fd int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			f, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no flags in /proc/%d/fdinfo/%d", pid, fd)
}

// sockInfo is the family, type and protocol of a child's socket.
func sockInfo(fd int) (family, sotype, protocol int, err error) {
	if family, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return
	}
	if sotype, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return
	}
	protocol, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return
}
