//go:build unix

package sdnotify

import (
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// SendWithFDs sends the lines as one message with fds attached as
// SCM_RIGHTS, as sd_pid_notify_with_fds(3) does ("FDSTORE=1",
// "FDNAME=web"). The fds stay open in the caller. Errors and retries are
// those of Send.
func (s *Sender) SendWithFDs(fds []int, lines ...string) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return s.send([]byte(strings.Join(lines, "\n")), oob)
}

// write sends one datagram with its control data on a connected socket
// (net's WriteMsgUnix refuses a connected datagram socket), waiting in the
// poller, as Write does, while the receiver's queue is full.
func write(conn *net.UnixConn, msg, oob []byte) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Write(func(fd uintptr) bool {
		for {
			serr = unix.Sendmsg(int(fd), msg, oob, nil, 0)
			if serr != unix.EINTR {
				return serr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}
