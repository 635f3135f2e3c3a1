package wrapper

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
	"zedr-run/socketact"
)

// Transparent mode (--intercept-bind): every generation runs under a
// seccomp filter that turns its bind(), listen() (and unlink() when a unix
// path is held) into notifications, which a goroutine per generation answers:
//
//   - bind() of a declared address, with the same family, socket type and
//     protocol: zedr-run's socket is installed at the caller's fd number
//     (SECCOMP_ADDFD_FLAG_SETFD, keeping its close-on-exec flag) and the call
//     returns 0;
//   - listen() on such a socket, and unlink() of a held unix socket path,
//     return 0 without running: the backlog zedr-run chose and the path stay;
//   - everything else runs unchanged, and so does any call zedr-run fails to
//     handle (it never makes a call fail that would have worked).
//
// O_NONBLOCK belongs to the socket, shared by every process that holds it,
// so it cannot differ between generations. Policy: at each intercepted bind
// the socket takes the O_NONBLOCK flag of the socket the caller created and
// is replacing (servers set it before bind: Go and nginx non-blocking,
// python and busybox blocking). When that changes the flag while another
// generation still uses the socket, a warning says so: the older generation
// may then see EAGAIN from accept() or block in it.

// listenEvent tells the supervisor that the generation started as pid has
// taken every declared socket: listen() on each stream socket and bind() of
// each datagram socket.
type listenEvent struct {
	pid int
	fds string // the child's fd numbers, for the log
}

// heldSocket is a declared socket with what matching a bind() needs.
type heldSocket struct {
	sock     *socketact.Socket
	fd       int
	family   int
	sotype   int
	protocol int
	addr     string // canonical: "127.0.0.1:8080", "[::]:8080", "/abs/path", "@name"
	dev, ino uint64
}

// interceptor answers the notifications of every generation. Its own state
// (the O_NONBLOCK flag last given to each socket) is behind mu; everything
// else is read-only once built.
type interceptor struct {
	log   *slog.Logger
	post  func(any)
	guard *guard // kills the generations' groups if zedr-run dies
	held  []heldSocket
	paths map[string]bool // absolute unix socket paths whose unlink() is faked

	mu       sync.Mutex
	nonblock map[int]nonblockOwner // by index in held
}

type nonblockOwner struct {
	on  bool
	gen int
}

// CheckIntercept says why --intercept-bind cannot work on this system, or nil.
func CheckIntercept() error { return reexec.CheckIntercept() }

func newInterceptor(socks []*socketact.Socket, log *slog.Logger, post func(any)) (*interceptor, error) {
	ic := &interceptor{log: log, post: post, paths: map[string]bool{}, nonblock: map[int]nonblockOwner{}}
	for _, s := range socks {
		h := heldSocket{sock: s, fd: int(s.File.Fd())}
		var err error
		if h.family, err = unix.GetsockoptInt(h.fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
			return nil, fmt.Errorf("socket %s: SO_DOMAIN: %w", s.Spec, err)
		}
		if h.sotype, err = unix.GetsockoptInt(h.fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
			return nil, fmt.Errorf("socket %s: SO_TYPE: %w", s.Spec, err)
		}
		if h.protocol, err = unix.GetsockoptInt(h.fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil {
			return nil, fmt.Errorf("socket %s: SO_PROTOCOL: %w", s.Spec, err)
		}
		sa, err := unix.Getsockname(h.fd)
		if err != nil {
			return nil, fmt.Errorf("socket %s: getsockname: %w", s.Spec, err)
		}
		h.addr = sockaddrString(sa)
		if h.family == unix.AF_UNIX && !strings.HasPrefix(h.addr, "@") {
			abs, err := filepath.Abs(h.addr)
			if err != nil {
				return nil, fmt.Errorf("socket %s: %w", s.Spec, err)
			}
			h.addr = abs
			ic.paths[abs] = true
		}
		var st unix.Stat_t
		if err := unix.Fstat(h.fd, &st); err != nil {
			return nil, fmt.Errorf("socket %s: fstat: %w", s.Spec, err)
		}
		h.dev, h.ino = st.Dev, st.Ino
		ic.held = append(ic.held, h)
	}
	return ic, nil
}

// shimIntercept is what the shim must intercept.
func (ic *interceptor) shimIntercept() reexec.Intercept {
	return reexec.Intercept{Bind: true, Unlink: len(ic.paths) > 0}
}

// sockaddrString renders a socket address as the log and the matching use it.
func sockaddrString(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			ip = ip.WithZone(strconv.Itoa(int(sa.ZoneId)))
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		if strings.HasPrefix(sa.Name, "\x00") {
			return "@" + sa.Name[1:]
		}
		return sa.Name
	}
	return fmt.Sprintf("%v", sa)
}

// parseSockaddr decodes the raw struct sockaddr a child passed to bind().
func parseSockaddr(b []byte) (family int, addr string, err error) {
	if len(b) < 2 {
		return 0, "", errors.New("address too short")
	}
	family = int(binary.NativeEndian.Uint16(b))
	switch family {
	case unix.AF_INET:
		if len(b) < unix.SizeofSockaddrInet4 {
			return family, "", errors.New("AF_INET address too short")
		}
		port := uint16(b[2])<<8 | uint16(b[3])
		return family, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port).String(), nil
	case unix.AF_INET6:
		if len(b) < unix.SizeofSockaddrInet6 {
			return family, "", errors.New("AF_INET6 address too short")
		}
		port := uint16(b[2])<<8 | uint16(b[3])
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		if zone := uint32(b[24]) | uint32(b[25])<<8 | uint32(b[26])<<16 | uint32(b[27])<<24; zone != 0 {
			ip = ip.WithZone(strconv.Itoa(int(zone)))
		}
		return family, netip.AddrPortFrom(ip, port).String(), nil
	case unix.AF_UNIX:
		path := b[2:]
		if len(path) > 0 && path[0] == 0 {
			return family, "@" + string(path[1:]), nil
		}
		if i := strings.IndexByte(string(path), 0); i >= 0 {
			path = path[:i]
		}
		return family, string(path), nil
	}
	return family, "", fmt.Errorf("address family %d", family)
}

func familyName(f int) string {
	switch f {
	case unix.AF_INET:
		return "inet"
	case unix.AF_INET6:
		return "inet6"
	case unix.AF_UNIX:
		return "unix"
	}
	return "family " + strconv.Itoa(f)
}

func typeName(t int) string {
	switch t {
	case unix.SOCK_STREAM:
		return "stream"
	case unix.SOCK_DGRAM:
		return "dgram"
	case unix.SOCK_SEQPACKET:
		return "seqpacket"
	}
	return "type " + strconv.Itoa(t)
}

// generationTaps is what one generation's goroutine knows: which declared
// sockets it has taken, for --ready listen.
type generationTaps struct {
	gen, pid int
	taken    map[int]int // index in held -> the child's fd
	reported bool
}

// serve answers the notifications of generation gen (started as pid) on
// listener until no process of it is left, then closes listener.
func (ic *interceptor) serve(listener, gen, pid int) {
	defer unix.Close(listener)
	// Every process of the generation runs under the filter: when the
	// listener hangs up, its process group is empty.
	defer ic.guard.remove(pid)
	g := &generationTaps{gen: gen, pid: pid, taken: map[int]int{}}
	fds := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
	var n seccompNotif
	for {
		fds[0].Revents = 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			ic.log.Error("seccomp listener: poll", "gen", gen, "err", err)
			return
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			return // POLLHUP: every process under the filter has exited
		}
		if err := notifRecv(listener, &n); err != nil {
			if err == unix.ENOENT {
				continue // the caller died or was interrupted
			}
			ic.log.Error("seccomp listener: receive", "gen", gen, "err", err)
			return
		}
		if err := ic.answer(listener, g, &n); err != nil && err != unix.ENOENT {
			ic.log.Warn("seccomp listener: answer", "gen", gen, "pid", n.Pid, "err", err)
		}
	}
}

// answer handles one notification; every path sends exactly one reply.
func (ic *interceptor) answer(listener int, g *generationTaps, n *seccompNotif) error {
	var handled bool
	var err error
	switch uint32(n.Data.Nr) {
	case sysBind:
		handled, err = ic.onBind(listener, g, n)
	case sysListen:
		handled, err = ic.onListen(listener, g, n)
	case sysUnlink:
		handled, err = ic.onUnlink(listener, g, n, unix.AT_FDCWD, n.Data.Args[0], 0)
	case sysUnlinkat:
		handled, err = ic.onUnlink(listener, g, n, int(int32(n.Data.Args[0])), n.Data.Args[1], int(n.Data.Args[2]))
	}
	if err != nil {
		ic.log.Warn("intercepted call left to the kernel", "gen", g.gen, "pid", n.Pid, "syscall", n.Data.Nr, "err", err)
	}
	if handled {
		return notifSucceed(listener, n.ID)
	}
	return notifContinue(listener, n.ID)
}

// caller is the process that made a call, opened by pidfd once the
// notification is known to be still valid.
type caller struct {
	tgid  int
	pidfd int
}

func openCaller(listener int, n *seccompNotif) (*caller, error) {
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
	if !notifValid(listener, n.ID) {
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

func (ic *interceptor) onBind(listener int, g *generationTaps, n *seccompNotif) (bool, error) {
	fd, ptr, size := int(int32(n.Data.Args[0])), n.Data.Args[1], n.Data.Args[2]
	if size < 2 || size > unix.SizeofSockaddrAny {
		return false, nil
	}
	raw := make([]byte, size)
	if err := readMem(int(n.Pid), ptr, raw); err != nil {
		return false, err
	}
	c, err := openCaller(listener, n)
	if err != nil {
		return false, err
	}
	defer c.close()
	theirs, err := pidfdGetfd(c.pidfd, fd)
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
	if err := notifSetFD(listener, n.ID, h.fd, fd, flags&unix.O_CLOEXEC != 0); err != nil {
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

func (ic *interceptor) onListen(listener int, g *generationTaps, n *seccompNotif) (bool, error) {
	fd := int(int32(n.Data.Args[0]))
	c, err := openCaller(listener, n)
	if err != nil {
		return false, err
	}
	defer c.close()
	theirs, err := pidfdGetfd(c.pidfd, fd)
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

func (ic *interceptor) onUnlink(listener int, g *generationTaps, n *seccompNotif, dirfd int, ptr uint64, flags int) (bool, error) {
	if flags&unix.AT_REMOVEDIR != 0 {
		return false, nil
	}
	path, err := readString(int(n.Pid), ptr, unix.PathMax)
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
	if !notifValid(listener, n.ID) {
		return false, unix.ENOENT
	}
	ic.log.Info("unlink of a held socket path faked", "gen", g.gen, "pid", n.Pid, "path", path)
	return true, nil
}

// receiveListener reads the shim's first message on the status channel: the
// seccomp listener (then it starts serving it and returns "" and no error),
// or the shim's error message.
func (s *supervisor) receiveListener(fd, gen, pid int) (string, error) {
	if err := waitReadable(fd); err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("status channel: %w", err)
		}
		listener := -1
		if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range cmsgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					for _, f := range fds {
						if listener < 0 {
							listener = f
						} else {
							unix.Close(f)
						}
					}
				}
			}
		}
		switch {
		case listener >= 0 && reexec.IsListenerMessage(buf[:n]):
			s.intercept.guard.add(pid)
			go s.intercept.serve(listener, gen, pid)
			return "", nil
		case listener >= 0:
			unix.Close(listener)
		case n == 0:
			return "", errors.New("the shim exec'd the command without the seccomp filter")
		}
		return string(buf[:n]), nil
	}
}

// waitReadable waits up to execTimeout for the shim to write.
func waitReadable(fd int) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(execTimeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("status channel: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("no word from the shim in %v", execTimeout)
		}
		return nil
	}
}

// onListen: with --ready listen, a generation is ready once it has taken
// every declared socket.
func (s *supervisor) onListen(ev listenEvent) {
	if s.cfg.Ready.Kind != ReadyListen {
		return
	}
	for _, g := range s.gens {
		if g.pid == ev.pid {
			s.onReady(g, "took its sockets at fd "+ev.fds)
			return
		}
	}
}

// startIntercepting builds the interceptor on the first start.
func (s *supervisor) startIntercepting() error {
	if s.intercept != nil {
		return nil
	}
	if err := CheckIntercept(); err != nil {
		return err
	}
	ic, err := newInterceptor(s.cfg.Sockets, s.log, s.post)
	if err != nil {
		return err
	}
	// Without it, zedr-run killed by SIGKILL would leave the children of
	// the child (nginx's workers) serving on the socket.
	if ic.guard, err = startGuard(); err != nil {
		return err
	}
	s.intercept = ic
	return nil
}
