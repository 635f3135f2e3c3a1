package intercept

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
)

// onBind answers a bind(): true once zedr-run's socket is installed at the
// caller's fd, false (with why, if it matters) to let the call run.
func (ic *Interceptor) onBind(listener int, g *generationTaps, n *seccomp.Notif) (bool, error) {
	fd, ptr, size := int(int32(n.Data.Args[0])), n.Data.Args[1], n.Data.Args[2]
	if size < 2 || size > unix.SizeofSockaddrAny {
		return false, nil
	}
	raw := make([]byte, size)
	if err := seccomp.ReadMem(int(n.Pid), ptr, raw); err != nil {
		return false, unlessBadPointer(err)
	}
	c, theirs, err := openCallerFD(listener, n, fd)
	if err != nil {
		return false, err
	}
	defer c.close()
	if theirs < 0 {
		return false, nil // not an open fd: the kernel answers EBADF itself
	}
	defer func() {
		if theirs >= 0 {
			unix.Close(theirs)
		}
	}()
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
	flags, err := fdFlags(c.tgid, fd)
	if err != nil {
		return false, err
	}
	i, h, other := ic.claim(family, sotype, protocol, addr, g)
	if i < 0 {
		if ic.adopt {
			return ic.unmatchedBind(g, c, fd, &theirs, family, sotype, addr)
		}
		level := slog.LevelInfo
		if strings.HasSuffix(addr, ":0") {
			level = slog.LevelDebug // a port the kernel picks: a probe (Go does two at start) or a client
		}
		ic.log.Log(context.Background(), level, "bind not intercepted: no --listen matches", "gen", g.gen, "pid", c.tgid, "fd", fd,
			"family", familyName(family), "type", typeName(sotype), "protocol", protocol, "addr", addr)
		return false, nil
	}
	if err := ic.setNonblock(h, g, other, flags&unix.O_NONBLOCK != 0); err != nil {
		return false, err
	}
	if err := seccomp.SetFD(listener, n.ID, h.fd, fd, flags&unix.O_CLOEXEC != 0); err != nil {
		return false, err
	}
	ic.log.Info("bind intercepted", "gen", g.gen, "pid", c.tgid, "fd", fd, "spec", h.spec, "addr", addr)
	if sotype == unix.SOCK_DGRAM {
		ic.took(g, i, fd)
	}
	return true, nil
}

// match returns the index of the open held socket a bind() asks for, or
// -1; the caller holds mu. An MPTCP socket (Go's default for listeners
// since Go 1.24) matches a TCP one: MPTCP is an optional upgrade that falls
// back to TCP anyway, and the server gets zedr-run's plain TCP socket (an
// adopted MPTCP socket is held as TCP).
func (ic *Interceptor) match(family, sotype, protocol int, addr string) int {
	if protocol == unix.IPPROTO_MPTCP {
		protocol = unix.IPPROTO_TCP
	}
	for i, h := range ic.held {
		if !h.closed && h.family == family && h.sotype == sotype && h.protocol == protocol && h.addr == addr {
			return i
		}
	}
	return -1
}

// onListen answers a listen() on a socket zedr-run holds: true, so that it
// returns 0 without running and the backlog zedr-run chose stays. When
// adopting, a listen() on the caller's own socket may adopt it
// (adoptListen).
func (ic *Interceptor) onListen(listener int, g *generationTaps, n *seccomp.Notif) (bool, error) {
	fd := int(int32(n.Data.Args[0]))
	c, theirs, err := openCallerFD(listener, n, fd)
	if err != nil {
		return false, err
	}
	defer c.close()
	if theirs < 0 {
		return false, nil
	}
	defer func() {
		if theirs >= 0 {
			unix.Close(theirs)
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(theirs, &st); err != nil {
		return false, nil
	}
	if i := ic.heldIndexOf(&st); i >= 0 {
		ic.log.Debug("listen intercepted", "gen", g.gen, "pid", c.tgid, "fd", fd, "spec", ic.heldAt(i).spec)
		ic.took(g, i, fd)
		return true, nil
	}
	if !ic.adopt {
		return false, nil
	}
	return ic.adoptListen(listener, g, n, c, fd, &theirs, &st)
}

// onUnlink answers an unlink() or unlinkat() of a held unix socket path:
// true, so that it returns 0 without running and the path stays.
func (ic *Interceptor) onUnlink(listener int, g *generationTaps, n *seccomp.Notif, dirfd int, ptr uint64, flags int) (bool, error) {
	if flags&unix.AT_REMOVEDIR != 0 {
		return false, nil
	}
	path, err := seccomp.ReadString(int(n.Pid), ptr, unix.PathMax)
	if err != nil {
		return false, unlessBadPointer(err)
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
	ic.mu.Lock()
	held := ic.paths[path]
	ic.mu.Unlock()
	if !held {
		return false, nil
	}
	if !seccomp.Valid(listener, n.ID) {
		return false, unix.ENOENT
	}
	ic.log.Info("unlink of a held socket path faked", "gen", g.gen, "pid", n.Pid, "path", path)
	return true, nil
}

// unlessBadPointer returns err, or nil when it says that the caller passed
// an address it cannot read itself, or a path too long: the call then runs
// and the kernel answers it (EFAULT, ENAMETOOLONG), with no warning that a
// child could repeat without end.
func unlessBadPointer(err error) error {
	if errors.Is(err, unix.EFAULT) || errors.Is(err, unix.EIO) || errors.Is(err, unix.ENAMETOOLONG) {
		return nil
	}
	return err
}
