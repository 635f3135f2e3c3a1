package sockfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sock_diag protocol for unix sockets, from <linux/unix_diag.h>.
const (
	udiagShowVFS      = 0x00000002 // UDIAG_SHOW_VFS
	unixDiagVFS       = 1          // UNIX_DIAG_VFS: struct unix_diag_vfs
	sizeofUnixDiagReq = 24         // struct unix_diag_req
	sizeofUnixDiagMsg = 16         // struct unix_diag_msg
	inetDiagNoCookie  = ^uint32(0) // INET_DIAG_NOCOOKIE
)

// errNoDiag says the kernel cannot answer sock_diag for unix sockets
// (CONFIG_UNIX_DIAG off, or a sandbox that forbids netlink).
var errNoDiag = errors.New("sock_diag for unix sockets is not available")

// errNotBound says the socket is bound to no file (abstract or unbound).
var errNotBound = errors.New("the socket is bound to no file")

// boundTo returns the device and inode of the file that the unix socket
// sockIno (the inode of the socket itself, fstat's st_ino) is bound to, as
// the kernel records them: dev in the kernel's encoding (major<<20|minor),
// ino truncated to 32 bits (struct unix_diag_vfs). It returns errNoDiag when
// the kernel cannot say.
func boundTo(sockIno uint64) (dev, ino uint32, err error) {
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errNoDiag, err)
	}
	defer unix.Close(nl)
	const seq = 1
	req := make([]byte, unix.SizeofNlMsghdr+sizeofUnixDiagReq)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], seq)
	b := req[unix.SizeofNlMsghdr:]
	b[0] = unix.AF_UNIX             // sdiag_family
	ne.PutUint32(b[4:], ^uint32(0)) // udiag_states: any
	ne.PutUint32(b[8:], uint32(sockIno))
	ne.PutUint32(b[12:], udiagShowVFS)
	ne.PutUint32(b[16:], inetDiagNoCookie)
	ne.PutUint32(b[20:], inetDiagNoCookie)
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errNoDiag, err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(nl, buf, 0)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %w", errNoDiag, err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %w", errNoDiag, err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(ne.Uint32(m.Data)); e != 0 {
						return 0, 0, fmt.Errorf("%w: %w", errNoDiag, unix.Errno(-e))
					}
				}
				return 0, 0, fmt.Errorf("%w: empty answer", errNoDiag)
			case unix.SOCK_DIAG_BY_FAMILY:
				return vfsAttr(m.Data, sockIno)
			}
		}
	}
}

// vfsAttr reads UNIX_DIAG_VFS from a unix_diag_msg and its attributes.
func vfsAttr(data []byte, sockIno uint64) (dev, ino uint32, err error) {
	if len(data) < sizeofUnixDiagMsg {
		return 0, 0, fmt.Errorf("%w: short unix_diag_msg", errNoDiag)
	}
	ne := binary.NativeEndian
	if got := ne.Uint32(data[4:]); got != uint32(sockIno) {
		return 0, 0, fmt.Errorf("%w: answer for socket inode %d, asked for %d", errNoDiag, got, sockIno)
	}
	for a := data[sizeofUnixDiagMsg:]; len(a) >= unix.SizeofRtAttr; {
		l, typ := int(ne.Uint16(a[0:])), ne.Uint16(a[2:])
		if l < unix.SizeofRtAttr || l > len(a) {
			break
		}
		if typ == unixDiagVFS && l >= unix.SizeofRtAttr+8 {
			return ne.Uint32(a[unix.SizeofRtAttr+4:]), ne.Uint32(a[unix.SizeofRtAttr:]), nil
		}
		l = (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if l > len(a) {
			break
		}
		a = a[l:]
	}
	return 0, 0, errNotBound
}

// sameFile reports whether st is the file that the kernel's sock_diag
// (dev, ino) name.
func sameFile(st *unix.Stat_t, dev, ino uint32) bool {
	return uint32(st.Ino) == ino && uint64(st.Dev) == unix.Mkdev(dev>>20, dev&0xfffff)
}
