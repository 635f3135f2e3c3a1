package sdnotify

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrEmpty is what Receive returns when no message is queued.
var ErrEmpty = errors.New("no notify message queued")

// Receive returns the next queued message of an accepted sender, without
// blocking: messages of other senders, and datagrams without credentials,
// are read and dropped on the way. It returns ErrEmpty once the queue is
// empty, and another error when the socket cannot be read (net.ErrClosed
// after Close). It is safe for concurrent use, but a caller that needs the
// messages in order reads from one goroutine at a time.
func (s *Socket) Receive() (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var n, noob int
		var rerr error
		err := s.raw.Control(func(fd uintptr) {
			for {
				n, noob, _, _, rerr = unix.Recvmsg(int(fd), s.buf, s.oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
				if rerr != unix.EINTR {
					return
				}
			}
		})
		if err == nil {
			err = rerr
		}
		switch {
		case err == unix.EAGAIN:
			return Message{}, ErrEmpty
		case err != nil:
			return Message{}, fmt.Errorf("read notify socket %s: %w", s.path, err)
		}
		if m, ok := s.message(s.buf[:n], s.oob[:noob]); ok {
			return m, nil
		}
	}
}

// Wait calls ready at once and again each time the socket becomes readable,
// until ready returns true (then Wait returns nil) or the socket is closed
// (then it returns an error that is net.ErrClosed). The wake-ups are
// edge-triggered: before it returns false, ready must have called Receive
// until ErrEmpty, or what is left waits for the next datagram to arrive.
// Wait is the only call here that blocks.
func (s *Socket) Wait(ready func() bool) error {
	return s.raw.Read(func(uintptr) bool { return ready() })
}

// message makes a Message of a datagram and its control data, if its
// sender is one the socket accepts.
func (s *Socket) message(b, oob []byte) (Message, bool) {
	cred := senderOf(oob)
	if cred == nil || !s.uids[cred.Uid] {
		return Message{}, false
	}
	return Message{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid), Fields: Parse(string(b))}, true
}

// senderOf finds the SCM_CREDENTIALS in a datagram's control data.
func senderOf(oob []byte) *unix.Ucred {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return cred
		}
	}
	return nil
}
