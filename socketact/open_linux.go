package socketact

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sockfile"
)

// target is one concrete way to open a Spec: family, type and socket address.
type target struct {
	family int
	sotype int
	sa     unix.Sockaddr
	v6only int // IPV6_V6ONLY for AF_INET6: 0 or 1; -1 for other families
	addr   string
}

// Open opens the socket that s describes, close-on-exec and blocking:
// socket, SO_REUSEADDR (tcp), SO_REUSEPORT (reuseport), IPV6_V6ONLY
// (0 for tcp/udp, 1 for tcp6/udp6), bind, then for unix paths chmod/chown,
// then listen with the backlog for stream sockets. An empty host with tcp
// or udp means [::] dual-stack, or 0.0.0.0 where the kernel has no IPv6.
// The error is an *OpenError.
func Open(s Spec) (*Socket, error) {
	if !isProto(s.Network) {
		return nil, &OpenError{Spec: s, Op: "socket", Err: fmt.Errorf("unknown protocol %q", s.Network)}
	}
	targets, err := resolve(s)
	if err != nil {
		return nil, err
	}
	for i, t := range targets {
		sock, err := open(s, t)
		if errors.Is(err, unix.EAFNOSUPPORT) && i+1 < len(targets) {
			continue // no IPv6 in this kernel: fall back to IPv4
		}
		return sock, err
	}
	panic("unreachable: resolve returns at least one target")
}

func sockType(s Spec) int {
	switch s.Network {
	case "udp", "udp4", "udp6", "unixgram":
		return unix.SOCK_DGRAM
	case "unixpacket":
		return unix.SOCK_SEQPACKET
	}
	return unix.SOCK_STREAM
}

// resolve returns the targets to try in turn for s: more than one only for
// an empty host with tcp or udp ([::] dual-stack, then 0.0.0.0).
func resolve(s Spec) ([]target, error) {
	sotype := sockType(s)
	if s.isUnix() {
		return []target{{family: unix.AF_UNIX, sotype: sotype, sa: &unix.SockaddrUnix{Name: s.Address}, v6only: -1, addr: s.Address}}, nil
	}
	host, portStr, err := net.SplitHostPort(s.Address)
	if err != nil {
		return nil, &OpenError{Spec: s, Op: "resolve", Addr: s.Address, Err: err}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, &OpenError{Spec: s, Op: "resolve", Addr: s.Address, Err: err}
	}
	last := s.Network[len(s.Network)-1]
	v6only := 0
	if last == '6' {
		v6only = 1
	}
	if host == "" {
		v4 := inetTarget(sotype, netip.IPv4Unspecified(), port, v6only)
		v6 := inetTarget(sotype, netip.IPv6Unspecified(), port, v6only)
		switch last {
		case '4':
			return []target{v4}, nil
		case '6':
			return []target{v6}, nil
		}
		return []target{v6, v4}, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ip, err = lookupHost(s.Network, host)
		if err != nil {
			return nil, &OpenError{Spec: s, Op: "resolve", Addr: host, Err: err}
		}
	}
	t := inetTarget(sotype, ip, port, v6only)
	if ip.Zone() != "" {
		sa := t.sa.(*unix.SockaddrInet6)
		if ifi, err := net.InterfaceByName(ip.Zone()); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, nerr := strconv.ParseUint(ip.Zone(), 10, 32); nerr == nil {
			sa.ZoneId = uint32(n)
		} else {
			return nil, &OpenError{Spec: s, Op: "resolve", Addr: host, Err: err}
		}
	}
	return []target{t}, nil
}

// lookupHost resolves a hostname as net.Listen does: ip4 or ip6 when the
// network says so, else the first IPv4 address if there is one.
func lookupHost(network, host string) (netip.Addr, error) {
	family := "ip"
	switch network[len(network)-1] {
	case '4':
		family = "ip4"
	case '6':
		family = "ip6"
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), family, host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	return ips[0], nil // LookupNetIP returns an error rather than no address
}

func inetTarget(sotype int, ip netip.Addr, port, v6only int) target {
	t := target{sotype: sotype, addr: netip.AddrPortFrom(ip, uint16(port)).String()}
	if ip.Is4() {
		t.family, t.v6only = unix.AF_INET, -1
		t.sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	} else {
		t.family, t.v6only = unix.AF_INET6, v6only
		t.sa = &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	}
	return t
}

// open opens one target. On error it closes the socket and removes the
// unix socket file it created, if that file is still at the path.
//
// A unix socket file is never changed by path: bind creates it with the
// mode of the Spec (sockfile.BindPerm), and the owner (and any mode bits a
// umask cannot give) are set on the inode that sockfile.Bound verified to
// be the socket's own file, so a symbolic link or another file swapped in
// at the path is never touched.
func open(s Spec, t target) (sock *Socket, err error) {
	fail := func(op string, e error) (*Socket, error) {
		return nil, &OpenError{Spec: s, Addr: t.addr, Op: op, Err: e}
	}
	var uid, gid int
	if s.Owner != "" {
		if uid, gid, err = lookupOwner(s.Owner); err != nil {
			return fail("chown", err)
		}
	}
	if s.isUnixPath() {
		if op, err := clearStale(s.Address, t.sotype); err != nil {
			return fail(op, err)
		}
	}
	fd, err := unix.Socket(t.family, t.sotype|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	var created *sockfile.ID
	defer func() {
		if err != nil {
			if created != nil {
				removeCreated(s.Address, *created)
			}
			unix.Close(fd)
		}
	}()
	if t.family != unix.AF_UNIX && t.sotype == unix.SOCK_STREAM {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt SO_REUSEADDR", err)
		}
	}
	if s.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt SO_REUSEPORT", err)
		}
	}
	if t.v6only >= 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, t.v6only); err != nil {
			return fail("setsockopt IPV6_V6ONLY", err)
		}
	}
	if s.isUnixPath() && s.Mode != 0 {
		err = sockfile.BindPerm(fd, t.sa, modeBits(s.Mode))
	} else {
		err = unix.Bind(fd, t.sa)
	}
	if err != nil {
		return fail("bind", err)
	}
	if s.isUnixPath() {
		// Before listen: no client can connect while the mode is wrong.
		var op string
		if created, op, err = setupFile(fd, s, uid, gid); err != nil {
			return fail(op, err)
		}
	}
	if s.Stream() {
		backlog := s.Backlog
		if backlog == 0 {
			backlog = DefaultBacklog
		}
		if err := unix.Listen(fd, backlog); err != nil {
			return fail("listen", err)
		}
	}
	addr, err := sockAddr(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	return &Socket{
		Spec:    s,
		File:    os.NewFile(uintptr(fd), s.String()),
		addr:    addr,
		created: created,
	}, nil
}

// sockAddr formats the local address of fd as Addr documents.
func sockAddr(fd int) (string, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", err
	}
	return formatSockaddr(sa), nil
}

// formatSockaddr renders a socket address as Addr documents, with an IPv6
// zone by interface name.
func formatSockaddr(sa unix.Sockaddr) string { return FormatSockaddr(sa, true) }

// FormatSockaddr renders a socket address: "127.0.0.1:8080", "[::1]:8080",
// "/path" or "@abstract". With zoneNames, an IPv6 zone is the interface's
// name where it has one; without, its number, as a bind() carries it
// (what transparent mode matches on).
func FormatSockaddr(sa unix.Sockaddr, zoneNames bool) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			zone := strconv.FormatUint(uint64(sa.ZoneId), 10)
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); zoneNames && err == nil {
				zone = ifi.Name
			}
			ip = ip.WithZone(zone)
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		return sa.Name // x/sys already writes an abstract name as "@name"
	}
	return ""
}
