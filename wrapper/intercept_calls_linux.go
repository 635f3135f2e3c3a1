package wrapper

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

func (ic *interceptor) onBind(listener int, g *generationTaps, n *seccomp.Notif) (bool, error) {
	fd, ptr, size := int(int32(n.Data.Args[0])), n.Data.Args[1], n.Data.Args[2]
	if size < 2 || size > unix.SizeofSockaddrAny {
		return false, nil
	}
	raw := make([]byte, size)
	if err := seccomp.ReadMem(int(n.Pid), ptr, raw); err != nil {
		return false, err
	}
	c, err := openCaller(listener, n)
	if err != nil {
		return false, err
	}
	defer c.close()
	theirs, err := seccomp.PidfdGetfd(c.pidfd, fd)
	if err != nil {
		return false, nil // not an open fd: the kernel answers EBADF itself
	}
	defer unix.Close(theirs)
	family, sotype, protocol, err := sockInfo(theirs)
	if err != nil {
		return false, nil // not a socket: ENOTSOCK from the kernel
	}
	afamily, addr, err := parseSockaddr(raw)
	if err != nil || afamily != family {
		return false, nil
	}
	if family == unix.AF_UNIX && !strings.HasPrefix(addr, "@") && !filepath.IsAbs(addr) {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", c.tgid))
		if err != nil {
			return false, err
		}
		addr = filepath.Join(cwd, addr)
	}
	i := ic.match(family, sotype, protocol, addr)
	if i < 0 {
		level := slog.LevelInfo
		if strings.HasSuffix(addr, ":0") {
			level = slog.LevelDebug // a port the kernel picks: a probe (Go does two at start) or a client
		}
		ic.log.Log(context.Background(), level, "bind not intercepted: no --listen matches", "gen", g.gen, "pid", c.tgid, "fd", fd,
			"family", familyName(family), "type", typeName(sotype), "protocol", protocol, "addr", addr)
		return false, nil
	}
	h := &ic.held[i]
	flags, err := fdFlags(c.tgid, fd)
	if err != nil {
		return false, err
	}
	if err := ic.setNonblock(i, g.gen, flags&unix.O_NONBLOCK != 0); err != nil {
		return false, err
	}
	if err := seccomp.SetFD(listener, n.ID, h.fd, fd, flags&unix.O_CLOEXEC != 0); err != nil {
		return false, err
	}
	ic.log.Info("bind intercepted", "gen", g.gen, "pid", c.tgid, "fd", fd, "spec", h.sock.Spec.String(), "addr", addr)
	if sotype == unix.SOCK_DGRAM {
		ic.took(g, i, fd)
	}
	return true, nil
}

// match returns the index of the held socket a bind() asks for, or -1.
// An MPTCP socket (Go's default for listeners since Go 1.24) matches a TCP
// one: MPTCP is an optional upgrade that falls back to TCP anyway, and the
// server gets zedr-run's plain TCP socket.
func (ic *interceptor) match(family, sotype, protocol int, addr string) int {
	if protocol == unix.IPPROTO_MPTCP {
		protocol = unix.IPPROTO_TCP
	}
	for i, h := range ic.held {
		if h.family == family && h.sotype == sotype && h.protocol == protocol && h.addr == addr {
			return i
		}
	}
	return -1
}

// setNonblock applies the O_NONBLOCK policy to held socket i for generation gen.
func (ic *interceptor) setNonblock(i, gen int, on bool) error {
	ic.mu.Lock()
	prev, seen := ic.nonblock[i]
	ic.nonblock[i] = nonblockOwner{on: on, gen: gen}
	ic.mu.Unlock()
	h := &ic.held[i]
	if seen && prev.on != on && prev.gen != gen {
		ic.log.Warn("generations disagree on O_NONBLOCK for a shared socket: the older one may misbehave until it stops",
			"spec", h.sock.Spec.String(), "gen", gen, "nonblock", on, "older_gen", prev.gen, "older_nonblock", prev.on)
	}
	fl, err := unix.FcntlInt(uintptr(h.fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("socket %s: fcntl F_GETFL: %w", h.sock.Spec, err)
	}
	want := fl &^ unix.O_NONBLOCK
	if on {
		want |= unix.O_NONBLOCK
	}
	if want != fl {
		if _, err := unix.FcntlInt(uintptr(h.fd), unix.F_SETFL, want); err != nil {
			return fmt.Errorf("socket %s: fcntl F_SETFL: %w", h.sock.Spec, err)
		}
	}
	return nil
}

func (ic *interceptor) onListen(listener int, g *generationTaps, n *seccomp.Notif) (bool, error) {
	fd := int(int32(n.Data.Args[0]))
	c, err := openCaller(listener, n)
	if err != nil {
		return false, err
	}
	defer c.close()
	theirs, err := seccomp.PidfdGetfd(c.pidfd, fd)
	if err != nil {
		return false, nil
	}
	defer unix.Close(theirs)
	var st unix.Stat_t
	if err := unix.Fstat(theirs, &st); err != nil {
		return false, nil
	}
	for i, h := range ic.held {
		if h.dev == st.Dev && h.ino == st.Ino {
			ic.log.Debug("listen intercepted", "gen", g.gen, "pid", c.tgid, "fd", fd, "spec", h.sock.Spec.String())
			ic.took(g, i, fd)
			return true, nil
		}
	}
	return false, nil
}

// took records that generation g has taken held socket i at fd, and tells
// the supervisor once it has taken them all.
func (ic *interceptor) took(g *generationTaps, i, fd int) {
	g.taken[i] = fd
	if g.reported || len(g.taken) < len(ic.held) {
		return
	}
	g.reported = true
	var fds []string
	for j := range ic.held {
		fds = append(fds, strconv.Itoa(g.taken[j]))
	}
	ic.post(listenEvent{pid: g.pid, fds: strings.Join(fds, ",")})
}

func (ic *interceptor) onUnlink(listener int, g *generationTaps, n *seccomp.Notif, dirfd int, ptr uint64, flags int) (bool, error) {
	if flags&unix.AT_REMOVEDIR != 0 {
		return false, nil
	}
	path, err := seccomp.ReadString(int(n.Pid), ptr, unix.PathMax)
	if err != nil {
		return false, err
	}
	if !filepath.IsAbs(path) {
		tgid, err := tgidOf(int(n.Pid))
		if err != nil {
			return false, err
		}
		base := fmt.Sprintf("/proc/%d/cwd", tgid)
		if dirfd != unix.AT_FDCWD {
			base = fmt.Sprintf("/proc/%d/fd/%d", tgid, dirfd)
		}
		dir, err := os.Readlink(base)
		if err != nil {
			return false, err
		}
		path = filepath.Join(dir, path)
	}
	path = filepath.Clean(path)
	if !ic.paths[path] {
		return false, nil
	}
	if !seccomp.Valid(listener, n.ID) {
		return false, unix.ENOENT
	}
	ic.log.Info("unlink of a held socket path faked", "gen", g.gen, "pid", n.Pid, "path", path)
	return true, nil
}
