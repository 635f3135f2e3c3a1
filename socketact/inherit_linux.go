package socketact

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Inherited returns the sockets that zedr-run itself was handed through
// LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES (only if LISTEN_PID is our pid), as
// files for fds 3, 4, ... with close-on-exec set, and their names ("unknown"
// where LISTEN_FDNAMES names none). It reads the environment once: every call
// returns the same files as Files does, so each fd has one owner. It returns nil, nil, nil
// when we were not socket-activated.
func Inherited() ([]*os.File, []string, error) {
	return passedFDs()
}

// takeFDs wraps the fds that the environment hands to pid in files named
// after LISTEN_FDNAMES and sets close-on-exec on them.
func takeFDs(getenv func(string) string, pid int) ([]*os.File, []string, error) {
	n, names, err := parseListenEnv(getenv, pid)
	if err != nil || n == 0 {
		return nil, nil, err
	}
	for fd := ListenFdsStart; fd < ListenFdsStart+n; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return nil, nil, fmt.Errorf("%s=%d: fd %d: %w", envListenFDs, n, fd, err)
		}
	}
	files := make([]*os.File, n)
	for i := range files {
		fd := ListenFdsStart + i
		unix.CloseOnExec(fd)
		files[i] = os.NewFile(uintptr(fd), names[i])
	}
	return files, names, nil
}

// OpenAll opens the sockets for specs, in order. A socket from Inherited that
// matches a spec (same family, type and address; port 0 in the spec matches
// any port) is adopted, with Inherited set, instead of opened. Inherited
// sockets that match no spec follow, in their fd order, with the name their
// activator gave them (see PassOn): zedr-run hands on whatever it was
// handed. OpenAll takes ownership of the inherited files, so call it once.
// On any error OpenAll closes every socket, adopted or opened, and returns
// the error (an *OpenError, or the Inherited error).
func OpenAll(specs []Spec) ([]*Socket, error) {
	files, names, err := Inherited()
	if err != nil {
		return nil, fmt.Errorf("inherited sockets: %w", err)
	}
	return openAll(specs, files, names)
}

// openAll is OpenAll with the inherited files and their names.
func openAll(specs []Spec, files []*os.File, names []string) ([]*Socket, error) {
	adopted := make([]bool, len(files))
	socks := make([]*Socket, 0, len(specs))
	closeAll := func() {
		for _, s := range socks {
			s.Close()
		}
		for i, f := range files {
			if !adopted[i] {
				f.Close()
			}
		}
	}
	for _, spec := range specs {
		sock, err := adopt(spec, files, adopted)
		if err == nil && sock == nil {
			sock, err = Open(spec)
		}
		if err != nil {
			closeAll()
			return nil, err
		}
		socks = append(socks, sock)
	}
	for i, f := range files {
		if adopted[i] {
			continue
		}
		sock, err := PassOn(f, names[i])
		if err != nil {
			closeAll()
			return nil, err
		}
		adopted[i] = true
		socks = append(socks, sock)
	}
	return socks, nil
}

// PassOn describes an inherited socket that no --listen spec asked for, so
// that it is handed on as it is: its Spec is derived from the socket itself
// (family, type and bound address) and named name, unless name is systemd's
// "unknown".
func PassOn(f *os.File, name string) (*Socket, error) {
	fd := int(f.Fd())
	family, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	sotype, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	sa, err3 := unix.Getsockname(fd)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("inherited fd %d (%s) is not a socket: %w", fd, name, err)
	}
	stream := sotype == unix.SOCK_STREAM
	var network string
	switch family {
	case unix.AF_INET:
		network = map[bool]string{true: "tcp4", false: "udp4"}[stream]
	case unix.AF_INET6:
		network = map[bool]string{true: "tcp6", false: "udp6"}[stream]
	case unix.AF_UNIX:
		network = map[int]string{unix.SOCK_STREAM: "unix", unix.SOCK_DGRAM: "unixgram", unix.SOCK_SEQPACKET: "unixpacket"}[sotype]
	}
	addr := formatSockaddr(sa)
	if network == "" || addr == "" {
		return nil, fmt.Errorf("inherited fd %d (%s): unsupported socket (family %d, type %d)", fd, name, family, sotype)
	}
	spec := Spec{Network: network, Address: addr}
	if name != unknownFDName && FDNameProblem(name) == "" {
		spec.Name = name
	}
	return &Socket{Spec: spec, File: f, Inherited: true, addr: addr}, nil
}

// adopt returns a Socket for the first file not yet adopted that matches
// spec, or nil, nil if none does.
func adopt(spec Spec, files []*os.File, adopted []bool) (*Socket, error) {
	var targets []target
	for i, f := range files {
		if adopted[i] {
			continue
		}
		if targets == nil {
			if !isProto(spec.Network) {
				return nil, nil // Open reports it
			}
			var err error
			if targets, err = resolve(spec); err != nil {
				return nil, err
			}
		}
		fd := int(f.Fd())
		if addr, ok := matchFD(fd, spec, targets); ok {
			adopted[i] = true
			return &Socket{Spec: spec, File: f, Inherited: true, addr: addr}, nil
		}
	}
	return nil, nil
}

// matchFD reports whether fd is a socket that one of the targets would have
// opened for spec, and returns its address.
func matchFD(fd int, spec Spec, targets []target) (string, bool) {
	family, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	sotype, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	sa, err3 := unix.Getsockname(fd)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", false
	}
	if spec.Stream() {
		if listening, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || listening != 1 {
			return "", false
		}
	}
	for _, t := range targets {
		if t.family != family || t.sotype != sotype || !sameAddr(t.sa, sa) {
			continue
		}
		// The kernel sets IPV6_V6ONLY itself when binding a specific IPv6
		// address, so it tells sockets apart only on [::].
		if w, ok := t.sa.(*unix.SockaddrInet6); ok && w.Addr == [16]byte{} {
			if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); err != nil || v != t.v6only {
				continue
			}
		}
		return formatSockaddr(sa), true
	}
	return "", false
}

// sameAddr compares a wanted address with a bound one; a wanted port 0
// matches any port.
func sameAddr(want, got unix.Sockaddr) bool {
	switch w := want.(type) {
	case *unix.SockaddrInet4:
		g, ok := got.(*unix.SockaddrInet4)
		return ok && w.Addr == g.Addr && (w.Port == 0 || w.Port == g.Port)
	case *unix.SockaddrInet6:
		g, ok := got.(*unix.SockaddrInet6)
		return ok && w.Addr == g.Addr && w.ZoneId == g.ZoneId && (w.Port == 0 || w.Port == g.Port)
	case *unix.SockaddrUnix:
		g, ok := got.(*unix.SockaddrUnix)
		return ok && w.Name == g.Name
	}
	return false
}
