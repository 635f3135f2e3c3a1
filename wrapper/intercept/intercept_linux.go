package intercept

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

// Listen is the event that the generation started as PID has taken every
// declared socket: listen() on each stream socket and bind() of each
// datagram socket.
type Listen struct {
	PID int
	FDs string // the child's fd numbers, in declaration order, for the log: "3,4"
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

// Interceptor answers the notifications of every generation. Its own state
// (which generations hold each socket, for the O_NONBLOCK policy) is behind
// mu; everything else is read-only once built, so the goroutines of several
// generations share it.
type Interceptor struct {
	log     *slog.Logger
	tookAll func(Listen)  // New's onListen
	closed  func(gen int) // if set, called once gen's listener is closed (tests)
	held    []heldSocket
	paths   map[string]bool // absolute unix socket paths whose unlink() is faked

	mu      sync.Mutex
	holders map[int]map[int]int // index in held -> generation -> its listeners under which a process bound it, until closed
}

// New checks that the kernel supports seccomp user notifications and
// prepares to answer binds of socks, which stay the caller's (they are
// never closed here). onListen is called once per generation that has
// taken every socket, from that generation's goroutine; it must not block.
func New(socks []*socketact.Socket, log *slog.Logger, onListen func(Listen)) (*Interceptor, error) {
	if err := seccomp.Check(); err != nil {
		return nil, err
	}
	ic := &Interceptor{log: log, tookAll: onListen, paths: map[string]bool{}, holders: map[int]map[int]int{}}
	for _, s := range socks {
		h, err := hold(s)
		if err != nil {
			return nil, fmt.Errorf("socket %s: %w", s.Spec, err)
		}
		if h.family == unix.AF_UNIX && !strings.HasPrefix(h.addr, "@") {
			ic.paths[h.addr] = true
		}
		ic.held = append(ic.held, h)
	}
	return ic, nil
}

// hold reads what matching a bind() against s needs.
func hold(s *socketact.Socket) (heldSocket, error) {
	h := heldSocket{sock: s, fd: int(s.File.Fd())}
	var err error
	if h.family, err = unix.GetsockoptInt(h.fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return h, fmt.Errorf("SO_DOMAIN: %w", err)
	}
	if h.sotype, err = unix.GetsockoptInt(h.fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return h, fmt.Errorf("SO_TYPE: %w", err)
	}
	if h.protocol, err = unix.GetsockoptInt(h.fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil {
		return h, fmt.Errorf("SO_PROTOCOL: %w", err)
	}
	sa, err := unix.Getsockname(h.fd)
	if err != nil {
		return h, fmt.Errorf("getsockname: %w", err)
	}
	h.addr = sockaddrString(sa)
	if h.family == unix.AF_UNIX && !strings.HasPrefix(h.addr, "@") {
		if h.addr, err = filepath.Abs(h.addr); err != nil {
			return h, err
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(h.fd, &st); err != nil {
		return h, fmt.Errorf("fstat: %w", err)
	}
	h.dev, h.ino = st.Dev, st.Ino
	return h, nil
}

// ShimIntercept is what the shim must intercept (reexec.ArgsWith).
func (ic *Interceptor) ShimIntercept() reexec.Intercept {
	return reexec.Intercept{Bind: true, Unlink: len(ic.paths) > 0}
}
