package sdnotify

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrEmpty is what Receive returns when no message is queued.
var ErrEmpty = errors.New("no notify message queued")

// Receive returns the next queued message of an accepted sender, without
// blocking: messages of other senders, and datagrams without credentials,
// are read and dropped on the way. It returns ErrEmpty once the queue is
// empty, and another error when the socket cannot be read (net.ErrClosed
// after Close). The descriptors a delivered message carries (only after
// AcceptFDs) are the caller's to close; those of dropped datagrams are
// closed here. It is safe for concurrent use, but a caller that needs the
// messages in order reads from one goroutine at a time.
func (s *Socket) Receive() (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var n, noob, flags int
		var rerr error
		err := s.raw.Control(func(fd uintptr) {
			for {
				n, noob, flags, _, rerr = unix.Recvmsg(int(fd), s.buf, s.oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
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
		if m, ok := s.message(s.buf[:n], s.oob[:noob], flags&unix.MSG_CTRUNC != 0, flags&unix.MSG_TRUNC != 0); ok {
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
// sender is one the socket accepts. Every descriptor the kernel installed
// either goes into the Message or is closed here: a datagram with more
// descriptors than AcceptFDs allows (cut by the kernel, ctrunc, or not)
// keeps none, and says so in FDsCut. An overlong datagram (trunc) keeps
// neither its fields nor its descriptors: a message cut in the middle could
// say something its sender did not (a STATUS= cut short, or a READY=1 line
// that came after a cut one), so, as systemd does, it is ignored whole, and
// Truncated tells the caller to say so.
func (s *Socket) message(b, oob []byte, ctrunc, trunc bool) (Message, bool) {
	cred, fds := parseControl(oob)
	// The buffer is rounded up (CmsgSpace), so it may hold a descriptor more
	// than allowed without the kernel cutting anything: count them too.
	ctrunc = ctrunc || (s.maxFDs > 0 && len(fds) > s.maxFDs)
	if cred == nil || !s.uids[cred.Uid] || ctrunc || trunc || s.maxFDs == 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		fds = nil
	}
	if cred == nil || !s.uids[cred.Uid] {
		return Message{}, false
	}
	if trunc {
		return Message{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid), Fields: map[string]string{}, Truncated: true}, true
	}
	m := Message{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid), Fields: Parse(string(b)), FDsCut: ctrunc}
	for _, fd := range fds {
		m.FDs = append(m.FDs, os.NewFile(uintptr(fd), "fd from pid "+fmt.Sprint(cred.Pid)))
	}
	return m, true
}

// parseControl finds the SCM_CREDENTIALS and the SCM_RIGHTS descriptors in
// a datagram's control data. The descriptors are returned even when the
// credentials are missing, so that the caller can close them.
func parseControl(oob []byte) (*unix.Ucred, []int) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, nil
	}
	var cred *unix.Ucred
	var fds []int
	for _, m := range msgs {
		if c, err := unix.ParseUnixCredentials(&m); err == nil {
			cred = c
		} else if r, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, r...)
		}
	}
	return cred, fds
}
