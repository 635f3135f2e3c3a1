package intercept

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
	"zedr-run/reexec"
	"zedr-run/socketact"
)

// Listen is the event that the generation started as PID has taken its
// sockets: listen() on each stream socket and bind() of each datagram
// socket it was expected to take (see the package doc for adopted ones).
type Listen struct {
	PID int
	FDs string // the child's fd numbers, in the order of the held sockets, for the log: "3,4"
}

// heldSocket is a declared or adopted socket with what matching a bind()
// needs. Its fields are fixed once it is in Interceptor.held, except
// lastGen and closed, which are behind Interceptor.mu.
type heldSocket struct {
	sock     *socketact.Socket
	fd       int
	family   int
	sotype   int
	protocol int    // an MPTCP socket is held as TCP (see match)
	addr     string // canonical: "127.0.0.1:8080", "[::]:8080", "/abs/path", "@name"
	dev, ino uint64
	spec     string // for the log and status

	adoptedBy int  // the generation whose own bind() and listen() made it; 0 for a declared socket
	lastGen   int  // the newest generation that bound it
	closed    bool // an adopted socket no live generation binds any more, closed
}

// Interceptor answers the notifications of every generation. Its state is
// behind mu: the table of held sockets (declared ones first, then those
// adopted, in the order they were; an index stays valid for good, a closed
// socket keeps its place), the unix socket paths whose unlink() is faked,
// and which generations hold each socket. The goroutines of several
// generations share it; none holds mu across a system call that waits.
type Interceptor struct {
	log        *slog.Logger
	tookAll    func(Listen)   // New's onListen
	adopted    func(Adoption) // New's onAdopt
	closed     func(gen int)  // if set, called once gen's listener is closed (tests)
	adopt      bool           // adopt what a generation binds and listens on itself (New's adopt)
	settle     time.Duration  // AdoptSettle; tests shorten it
	maxAdopted int            // maxAdopted; tests lower it

	mu       sync.Mutex
	held     []*heldSocket
	paths    map[string]bool     // absolute unix socket paths of open held sockets
	holders  map[int]map[int]int // index in held -> generation -> its listeners under which a process bound it, until closed
	reported int                 // the newest generation that took its sockets (Listen)
}

// New checks that the kernel supports seccomp user notifications and
// prepares to answer binds of socks, which stay the caller's (they are
// never closed here). With adopt, a socket a generation binds itself to a
// fixed address and listens on (or, for UDP, binds) is adopted: held from
// then on as a declared one, and closed here once no live generation binds
// it any more (see the package doc). onListen is called once per generation
// that has taken its sockets, from that generation's goroutine; it must not
// block. onAdopt, if set, is called once for each socket adopted, from the
// adopting generation's goroutine, and must not block either.
func New(socks []*socketact.Socket, adopt bool, log *slog.Logger, onListen func(Listen), onAdopt func(Adoption)) (*Interceptor, error) {
	if err := seccomp.Check(); err != nil {
		return nil, err
	}
	ic := &Interceptor{log: log, tookAll: onListen, adopted: onAdopt, adopt: adopt, settle: AdoptSettle, maxAdopted: maxAdopted, paths: map[string]bool{}, holders: map[int]map[int]int{}}
	for _, s := range socks {
		h, err := hold(s)
		if err != nil {
			return nil, fmt.Errorf("socket %s: %w", s.Spec, err)
		}
		ic.add(h)
	}
	return ic, nil
}

// add puts h in the table and returns its index; the caller holds mu (or
// is New).
func (ic *Interceptor) add(h *heldSocket) int {
	if h.family == unix.AF_UNIX && !strings.HasPrefix(h.addr, "@") {
		ic.paths[h.addr] = true
	}
	ic.held = append(ic.held, h)
	return len(ic.held) - 1
}

// hold reads what matching a bind() against s needs.
func hold(s *socketact.Socket) (*heldSocket, error) {
	h := &heldSocket{sock: s, fd: int(s.File.Fd()), spec: s.Spec.String()}
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
	if h.protocol == unix.IPPROTO_MPTCP {
		h.protocol = unix.IPPROTO_TCP
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

// ShimIntercept is what the shim must intercept (reexec.ArgsWith). When
// adopting, unlink() is intercepted from the first generation on: the unix
// socket path it binds is only known once it has.
func (ic *Interceptor) ShimIntercept() reexec.Intercept {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return reexec.Intercept{Bind: true, Unlink: ic.adopt || len(ic.paths) > 0}
}

// heldAt returns held socket i, under mu.
func (ic *Interceptor) heldAt(i int) *heldSocket {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.held[i]
}
