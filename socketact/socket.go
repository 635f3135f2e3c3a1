package socketact

import (
	"errors"
	"os"

	"zedr-run/internal/sockfile"
)

// Socket is an open listening (stream) or bound (datagram) socket.
type Socket struct {
	Spec      Spec
	File      *os.File // the listening (stream) or bound (datagram) socket; close-on-exec in zedr-run
	Inherited bool     // adopted from our own LISTEN_FDS, not opened by us

	addr    string       // what Addr returns, read from getsockname once
	created *sockfile.ID // the unix socket file this Socket bound, nil if none
}

// Addr returns the address the socket is bound to, with the port the kernel
// picked when the Spec said 0: "127.0.0.1:43121", "[::]:8080",
// "/run/app.sock" or "@name".
func (s *Socket) Addr() string { return s.addr }

// Close closes the socket. If this Socket created a unix socket file, Close
// first removes it, but only if the file at that path is still that one
// (the same device and inode, checked after moving it out of reach).
func (s *Socket) Close() error {
	var rmErr error
	if s.created != nil {
		rmErr = removeCreated(s.Spec.Address, *s.created)
		s.created = nil
	}
	return errors.Join(s.File.Close(), rmErr)
}

// FileID returns the device and inode of the unix socket file that this
// Socket created, and false if it created none.
func (s *Socket) FileID() (dev, ino uint64, ok bool) {
	if s.created == nil {
		return 0, 0, false
	}
	return s.created.Dev, s.created.Ino, true
}

// Owned reports whether zedr-run created this socket's unix socket file.
func (s *Socket) Owned() bool { return s.created != nil }
