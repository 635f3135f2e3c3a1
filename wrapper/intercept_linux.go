package wrapper

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
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
	post  func(event)
	held  []heldSocket
	paths map[string]bool // absolute unix socket paths whose unlink() is faked

	mu       sync.Mutex
	nonblock map[int]nonblockOwner // by index in held
}

type nonblockOwner struct {
	on  bool
	gen int
}

func newInterceptor(socks []*socketact.Socket, log *slog.Logger, post func(event)) (*interceptor, error) {
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
	g := &generationTaps{gen: gen, pid: pid, taken: map[int]int{}}
	fds := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
	var n seccomp.Notif
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
		if err := seccomp.Recv(listener, &n); err != nil {
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
func (ic *interceptor) answer(listener int, g *generationTaps, n *seccomp.Notif) error {
	var handled bool
	var err error
	switch uint32(n.Data.Nr) {
	case seccomp.SysBind:
		handled, err = ic.onBind(listener, g, n)
	case seccomp.SysListen:
		handled, err = ic.onListen(listener, g, n)
	case seccomp.SysUnlink:
		handled, err = ic.onUnlink(listener, g, n, unix.AT_FDCWD, n.Data.Args[0], 0)
	case seccomp.SysUnlinkat:
		handled, err = ic.onUnlink(listener, g, n, int(int32(n.Data.Args[0])), n.Data.Args[1], int(n.Data.Args[2]))
	}
	if err != nil {
		ic.log.Warn("intercepted call left to the kernel", "gen", g.gen, "pid", n.Pid, "syscall", n.Data.Nr, "err", err)
	}
	if handled {
		return seccomp.Succeed(listener, n.ID)
	}
	return seccomp.Continue(listener, n.ID)
}
