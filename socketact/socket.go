package socketact

import (
	"errors"
	"os"
)

// Socket is an open listening (stream) or bound (datagram) socket.
type Socket struct {
	Spec      Spec
	File      *os.File // the listening (stream) or bound (datagram) socket; close-on-exec in zedr-run
	Inherited bool     // adopted from our own LISTEN_FDS, not opened by us

	addr    string      // what Addr returns, read from getsockname once
	created os.FileInfo // the unix socket file this Socket bound, nil if none
}

// Addr returns the address the socket is bound to, with the port the kernel
// picked when the Spec said 0: "127.0.0.1:43121", "[::]:8080",
// "/run/app.sock" or "@name".
func (s *Socket) Addr() string { return s.addr }

// Close closes the socket. If this Socket created a unix socket file, Close
// first removes it, but only if the file at that path is still that one.
func (s *Socket) Close() error {
	var rmErr error
	if s.created != nil {
		path := s.Spec.Address
		if fi, err := os.Lstat(path); err == nil && os.SameFile(fi, s.created) {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				rmErr = err
			}
		}
		s.created = nil
	}
	return errors.Join(s.File.Close(), rmErr)
}

// Owned reports whether zedr-run created this socket's unix socket file.
func (s *Socket) Owned() bool { return s.created != nil }
