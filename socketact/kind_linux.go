package socketact

import (
	"os"

	"golang.org/x/sys/unix"
)

// kindOf tells a listening stream socket from a datagram socket, through
// SyscallConn so that a non-blocking fd stays non-blocking.
func kindOf(f *os.File) (sockKind, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return sockOther, err
	}
	kind := sockOther
	var serr error
	err = rc.Control(func(fd uintptr) {
		var sotype, listening int
		if sotype, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE); serr != nil {
			if serr == unix.ENOTSOCK { // a stored memfd or pipe: neither kind
				serr = nil
			}
			return
		}
		switch sotype {
		case unix.SOCK_DGRAM:
			kind = sockDatagram
		case unix.SOCK_STREAM, unix.SOCK_SEQPACKET:
			listening, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
			if listening == 1 {
				kind = sockListener
			}
		}
	})
	if err == nil {
		err = serr
	}
	return kind, err
}
