package intercept

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"zedr-run/socketact"
)

// sockaddrString renders a socket address as the log and the matching use
// it: an IPv6 zone by number, as a child's bind() carries it.
func sockaddrString(sa unix.Sockaddr) string { return socketact.FormatSockaddr(sa, false) }

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
