package intercept

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
	"zedr-run/socketact"
)

// Adopting (New's adopt, zedr-run --intercept-bind with no --listen or
// --listen auto): a generation's bind() that matches no held socket runs
// as the caller asked, with its own privileges and socket options, and the
// socket may be adopted:
//
//   - a stream (or seqpacket) socket when it listen()s after a bind() to a
//     fixed address that this generation's goroutine saw: zedr-run takes
//     its own reference (pidfd_getfd), runs the listen() itself on that same
//     socket with the caller's backlog, and answers 0;
//   - a UDP socket once its bind() to a fixed port is seen done (the bind
//     runs in the caller; zedr-run looks at its own reference every
//     udpCheckInterval) and it has stayed unconnected udpClientGrace since:
//     a client connects right after its bind.
//
// Never adopted: a bind to port 0 (the kernel picks one) or an unnamed unix
// socket, a stream socket that never listens (a client that binds before
// connect()), a listen() whose bind this goroutine did not see, unixgram
// sockets, and a second socket for an address already held (SO_REUSEPORT
// servers that bind several before listening: the first is held, later
// generations get it for every bind), nor a socket beyond maxAdopted open
// adopted ones.

// AdoptSettle is how long after the last socket it took a generation that
// took some, but not every socket held when it started, counts as having
// taken its sockets (Listen) when adopting: the first generation, which has
// nothing to match, and one whose new configuration dropped a port. Servers
// bind all their sockets within milliseconds of each other at start; half a
// second after the last one leaves a wide margin on a loaded machine and
// adds little to a restart.
const AdoptSettle = 500 * time.Millisecond

const (
	// udpCheckInterval is how often a UDP bind that runs in the caller is
	// looked at to see it done. A bind returns within microseconds; the
	// interval only bounds how soon the adoption is seen.
	udpCheckInterval = 10 * time.Millisecond
	// udpClientGrace is how long a UDP socket must stay unconnected after
	// its bind was seen done before it is adopted. A client that binds a
	// fixed port connect()s right after, within microseconds, but a check
	// may fall between its two calls, or the machine may hold it up between
	// them: a tenth of a second is a wide margin, and far within
	// AdoptSettle, so the first generation's readiness waits no longer.
	udpClientGrace = 100 * time.Millisecond
	// udpBindWait is how long a UDP bind may take before it is taken for
	// failed (EADDRINUSE, EACCES) and zedr-run lets go of its reference.
	udpBindWait = time.Second
	// maxBindRecords bounds the stream binds to a fixed address a generation
	// keeps until their listen(): client sockets that bind a fixed address
	// and never listen are forgotten oldest first.
	maxBindRecords = 1024
	// maxPending bounds the UDP binds waiting to be seen done.
	maxPending = 64
	// maxAdopted bounds the adopted sockets open at once: each costs
	// zedr-run an fd and a place in the table every bind() is matched
	// against, and a child could otherwise adopt every port there is, or
	// any number of unix socket paths. Servers listen on a handful.
	maxAdopted = 256
)

// bindRecords are the stream binds to a fixed address that one generation
// made, by socket inode: the resolved address (an absolute unix path).
type bindRecords struct {
	byIno map[uint64]string
	order []uint64
}

func (b *bindRecords) put(ino uint64, addr string) {
	if b.byIno == nil {
		b.byIno = map[uint64]string{}
	}
	for len(b.byIno) >= maxBindRecords && len(b.order) > 0 {
		delete(b.byIno, b.order[0])
		b.order = b.order[1:]
	}
	if len(b.order) > 2*maxBindRecords { // taken records leave their place behind
		b.order = slices.DeleteFunc(b.order, func(ino uint64) bool { _, ok := b.byIno[ino]; return !ok })
	}
	b.byIno[ino] = addr
	b.order = append(b.order, ino)
}

func (b *bindRecords) take(ino uint64) (string, bool) {
	addr, ok := b.byIno[ino]
	delete(b.byIno, ino)
	return addr, ok
}

// udpPending is a UDP bind to a fixed port that runs in the caller, with
// zedr-run's own reference to the socket.
type udpPending struct {
	fd      int // zedr-run's reference (pidfd_getfd)
	childFD int
	pid     int
	addr    string
	port    int
	since   time.Time
	bound   time.Time // when its bind was first seen done; zero before
}

func (g *generationTaps) dropPending() {
	for _, p := range g.pending {
		unix.Close(p.fd)
	}
	g.pending = nil
}

// fixedAddr says whether a bind() to addr names its address: a port other
// than 0, or a unix socket path or abstract name (not autobind).
func fixedAddr(family int, addr string) (port int, fixed bool) {
	switch family {
	case unix.AF_INET, unix.AF_INET6:
		ap, err := netip.ParseAddrPort(addr)
		return int(ap.Port()), err == nil && ap.Port() != 0
	case unix.AF_UNIX:
		return 0, addr != "" && addr != "@"
	}
	return 0, false
}

// unmatchedBind records, when adopting, a bind() that matches no held
// socket and runs as asked; *theirs (zedr-run's reference to the caller's
// socket) is kept, and set to -1, for a UDP bind to a fixed port.
func (ic *Interceptor) unmatchedBind(g *generationTaps, c *caller, fd int, theirs *int, family, sotype int, addr string) (bool, error) {
	port, fixed := fixedAddr(family, addr)
	why := ""
	switch {
	case !fixed:
		why = "never adopted: the kernel picks the port, or an unnamed socket"
	case sotype == unix.SOCK_STREAM || sotype == unix.SOCK_SEQPACKET:
		var st unix.Stat_t
		if err := unix.Fstat(*theirs, &st); err != nil {
			return false, err
		}
		g.binds.put(st.Ino, addr)
		why = "adopted if it listens"
	case sotype == unix.SOCK_DGRAM && family != unix.AF_UNIX:
		if len(g.pending) >= maxPending {
			unix.Close(g.pending[0].fd)
			g.pending = g.pending[1:]
		}
		g.pending = append(g.pending, udpPending{fd: *theirs, childFD: fd, pid: c.tgid, addr: addr, port: port, since: time.Now()})
		*theirs = -1
		why = "adopted once bound, unless connected"
	default:
		why = "never adopted: only listening stream sockets and UDP sockets are"
	}
	ic.log.Debug("bind runs as asked", "gen", g.gen, "pid", c.tgid, "fd", fd, "family", familyName(family), "type", typeName(sotype), "addr", addr, "adoption", why)
	return false, nil
}

// adoptListen answers a listen() on the caller's own socket when adopting:
// if this generation saw its bind() to a fixed address, zedr-run runs the
// listen() itself on its reference *theirs with the caller's backlog, and
// adopts the socket (keeping *theirs, set to -1). st is the socket's fstat.
// If a socket for that address is held by now (another worker of the first
// generation adopted it between this one's bind and its listen, which
// SO_REUSEADDR allows), the caller gets the held socket instead, as at a
// bind().
func (ic *Interceptor) adoptListen(listener int, g *generationTaps, n *seccomp.Notif, c *caller, fd int, theirs *int, st *unix.Stat_t) (bool, error) {
	addr, seen := g.binds.take(st.Ino)
	if !seen {
		ic.log.Debug("listen not adopted: no bind to a fixed address seen for this socket", "gen", g.gen, "pid", c.tgid, "fd", fd)
		return false, nil
	}
	family, sotype, protocol, err := sockInfo(*theirs)
	if err != nil {
		return false, nil
	}
	if i, h, other := ic.claim(family, sotype, protocol, addr, g); i >= 0 {
		flags, err := fdFlags(c.tgid, fd)
		if err == nil {
			err = ic.setNonblock(h, g, other, flags&unix.O_NONBLOCK != 0)
		}
		if err == nil {
			err = seccomp.SetFD(listener, n.ID, h.fd, fd, flags&unix.O_CLOEXEC != 0)
		}
		if err != nil {
			return false, err
		}
		ic.log.Info("bind intercepted at listen(): the address was adopted meanwhile", "gen", g.gen, "pid", c.tgid, "fd", fd, "spec", h.spec, "addr", addr)
		ic.took(g, i, fd)
		return true, nil
	}
	if port, _ := fixedAddr(family, addr); family != unix.AF_UNIX {
		if bound, err := boundPort(*theirs); err != nil || bound != port {
			// Its bind() failed (EADDRINUSE, EACCES): listen() would have the
			// kernel pick a port, which is never adopted.
			ic.log.Debug("listen not adopted: the socket is not bound to the port its bind() asked for", "gen", g.gen, "pid", c.tgid, "fd", fd, "addr", addr)
			return false, nil
		}
	}
	if err := unix.Listen(*theirs, int(int32(n.Data.Args[1]))); err != nil {
		return false, nil // the call runs, and the kernel answers as it did here
	}
	if i := ic.adoptFD(g, c.tgid, fd, theirs, addr); i >= 0 {
		ic.took(g, i, fd)
	}
	return true, nil
}

// boundPort returns the port internet socket fd is bound to (0: none).
func boundPort(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port, err
	case *unix.SockaddrInet6:
		return sa.Port, err
	}
	return 0, err
}

// checkPending adopts the pending UDP sockets whose bind is done, and lets
// go of those that failed or are connected.
func (ic *Interceptor) checkPending(g *generationTaps, now time.Time) {
	keep := g.pending[:0]
	for _, p := range g.pending {
		port, err := boundPort(p.fd)
		switch {
		case err == nil && port == p.port:
			if _, err := unix.Getpeername(p.fd); err == nil {
				ic.log.Debug("udp socket not adopted: connected, a client", "gen", g.gen, "pid", p.pid, "fd", p.childFD, "addr", p.addr)
				unix.Close(p.fd)
				continue
			}
			if p.bound.IsZero() {
				p.bound = now
			}
			if now.Sub(p.bound) < udpClientGrace {
				keep = append(keep, p)
				continue
			}
			fd := p.fd
			if i := ic.adoptFD(g, p.pid, p.childFD, &fd, p.addr); i >= 0 {
				ic.took(g, i, p.childFD)
			}
		case err == nil && port == 0 && now.Sub(p.since) < udpBindWait:
			keep = append(keep, p)
		default:
			ic.log.Debug("udp socket not adopted: its bind did not take place", "gen", g.gen, "pid", p.pid, "fd", p.childFD, "addr", p.addr)
			unix.Close(p.fd)
		}
	}
	clear(g.pending[len(keep):])
	g.pending = keep
}

// adoptFD holds the socket *fd (zedr-run's reference to fd childFD of
// process pid of generation g, bound to addr) from now on, as a declared
// one, with g as its holder, and returns its index, or -1 when the socket
// cannot be held or a socket for that address already is. Either way *fd
// is zedr-run's no more (-1): it is held, or closed.
func (ic *Interceptor) adoptFD(g *generationTaps, pid, childFD int, fd *int, addr string) int {
	family, sotype, _, err := sockInfo(*fd)
	spec := socketact.Spec{Network: networkName(family, sotype), Address: addr}
	if err == nil && family != unix.AF_UNIX {
		var sa unix.Sockaddr
		if sa, err = unix.Getsockname(*fd); err == nil {
			spec.Address = socketact.FormatSockaddr(sa, true)
		}
	}
	if err != nil {
		unix.Close(*fd)
		*fd = -1
		return -1
	}
	f := os.NewFile(uintptr(*fd), spec.String())
	*fd = -1
	s, err := socketact.Adopt(spec, f, false, family == unix.AF_UNIX && !strings.HasPrefix(addr, "@"))
	if err != nil {
		f.Close()
		ic.log.Warn("socket not adopted", "gen", g.gen, "pid", pid, "fd", childFD, "addr", addr, "err", err)
		return -1
	}
	h, err := hold(s)
	if err != nil {
		f.Close() // never s.Close: the unix socket file is the child's
		ic.log.Warn("socket not adopted", "gen", g.gen, "pid", pid, "fd", childFD, "addr", addr, "err", err)
		return -1
	}
	if family == unix.AF_UNIX {
		h.addr = addr // resolved against the caller's directory, not zedr-run's
	}
	h.adoptedBy, h.lastGen = g.gen, g.gen
	a := Adoption{Spec: h.spec, Inode: h.ino}
	if dev, ino, ok := s.FileID(); ok { // read before another goroutine may close s
		a.Path, a.FileDev, a.FileIno = spec.Address, dev, ino
	}
	ic.mu.Lock()
	if j := ic.match(family, sotype, h.protocol, h.addr); j >= 0 {
		other := ic.held[j].spec
		ic.mu.Unlock()
		f.Close()
		ic.log.Info("socket not adopted: one for that address is held already", "gen", g.gen, "pid", pid, "fd", childFD, "spec", other)
		return -1
	}
	if n := ic.openAdopted(); n >= ic.maxAdopted {
		ic.mu.Unlock()
		f.Close()
		ic.log.Warn("socket not adopted: too many adopted sockets open", "gen", g.gen, "pid", pid, "fd", childFD, "spec", h.spec, "open", n)
		return -1
	}
	i := ic.add(h)
	ic.holders[i] = map[int]int{g.gen: 1}
	g.bound[i] = true
	ic.mu.Unlock()
	ic.log.Info("socket adopted", "gen", g.gen, "pid", pid, "fd", childFD, "spec", h.spec, "addr", h.addr)
	if ic.adopted != nil {
		ic.adopted(a)
	}
	return i
}

// openAdopted counts the open adopted sockets; the caller holds mu.
func (ic *Interceptor) openAdopted() int {
	n := 0
	for _, h := range ic.held {
		if h.adoptedBy != 0 && !h.closed {
			n++
		}
	}
	return n
}

// networkName is the --listen protocol of a socket, as status shows it.
func networkName(family, sotype int) string {
	switch {
	case family == unix.AF_UNIX && sotype == unix.SOCK_SEQPACKET:
		return "unixpacket"
	case family == unix.AF_UNIX && sotype == unix.SOCK_DGRAM:
		return "unixgram"
	case family == unix.AF_UNIX:
		return "unix"
	}
	proto := "tcp"
	if sotype == unix.SOCK_DGRAM {
		proto = "udp"
	}
	if family == unix.AF_INET6 {
		return proto + "6"
	}
	return proto + "4"
}

// closeUnused closes the adopted sockets that no live generation binds any
// more: no process is left under a generation that bound it, and the
// newest generation that took its sockets is not the last one that bound
// it: a newer one took its sockets without it (its configuration dropped
// that address), or the last one that bound it never took its sockets (a
// new generation rolled back). A socket whose last holder took its sockets
// and then crashed stays open for the generation that replaces it.
func (ic *Interceptor) closeUnused() {
	ic.mu.Lock()
	var gone []*heldSocket
	for i, h := range ic.held {
		if h.adoptedBy == 0 || h.closed || len(ic.holders[i]) > 0 || ic.reported == h.lastGen {
			continue
		}
		h.closed = true
		delete(ic.paths, h.addr)
		gone = append(gone, h)
	}
	newest := ic.reported
	ic.mu.Unlock()
	for _, h := range gone {
		err := h.sock.Close()
		ic.log.Info("adopted socket closed: no live generation binds it any more", "spec", h.spec, "adopted_by_gen", h.adoptedBy,
			"last_bound_by_gen", h.lastGen, "serving_gen", newest)
		if err != nil {
			ic.log.Warn("adopted socket: its file not removed", "spec", h.spec, "err", err)
		}
	}
}

// Adoption is what a supervisor needs to look after an adopted socket if
// zedr-run dies, as it does a declared one (New's onAdopt).
type Adoption struct {
	Spec  string
	Inode uint64 // the socket's, for finding the processes that hold it
	// Path, FileDev and FileIno are its unix socket file, if it has one
	// (Path is ""): removed only if it is still that file.
	Path             string
	FileDev, FileIno uint64
}

// Adopted is one adopted socket, for status.
type Adopted struct {
	Spec string // "tcp4:127.0.0.1:8080"
	Addr string // as socketact.Socket.Addr; a unix path made absolute
	Gen  int    // the generation whose own bind() it was
}

// Adopted lists the open adopted sockets, oldest first.
func (ic *Interceptor) Adopted() []Adopted {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	var out []Adopted
	for _, h := range ic.held {
		if h.adoptedBy != 0 && !h.closed {
			addr := h.sock.Addr()
			if h.family == unix.AF_UNIX {
				addr = h.addr // the kernel's name may be relative to the server's directory
			}
			out = append(out, Adopted{Spec: h.spec, Addr: addr, Gen: h.adoptedBy})
		}
	}
	return out
}

// Close closes every adopted socket (a unix socket file with it, if it is
// still that socket's), when zedr-run ends; declared sockets stay the
// caller's.
func (ic *Interceptor) Close() {
	ic.mu.Lock()
	var gone []*heldSocket
	for _, h := range ic.held {
		if h.adoptedBy != 0 && !h.closed {
			h.closed = true
			delete(ic.paths, h.addr)
			gone = append(gone, h)
		}
	}
	ic.mu.Unlock()
	for _, h := range gone {
		if err := h.sock.Close(); err != nil {
			ic.log.Warn("adopted socket: its file not removed", "spec", h.spec, "err", err)
		}
	}
}
