package control

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/socketact"
)

// Why Listen refused a path; the errors it returns wrap one of these.
var (
	ErrPathTooLong = errors.New("path too long for a unix socket")
	ErrInTheWay    = errors.New("a file that is not a socket is in the way")
	ErrInUse       = errors.New("another zedr-run listens there")
)

// acceptRetry is how long Serve waits after a failed accept (EMFILE and
// the like) before it tries again, so that it does not spin.
const acceptRetry = 100 * time.Millisecond

// Server is the listening control socket.
type Server struct {
	ln   *net.UnixListener
	path string
	sock *socketact.Socket // the socket file we created, removed by Close only if still there
}

// Listen creates the control socket at path, mode 0600. A stale socket
// file there (nobody listening) is replaced; anything else is an error
// wrapping ErrInTheWay or ErrInUse, and a path too long for a unix socket
// one wrapping ErrPathTooLong. It is opened as a --listen unix socket is
// (socketact.Open), so no step follows a symbolic link or touches a file
// that zedr-run did not create.
func Listen(path string) (*Server, error) {
	if max := len(unix.RawSockaddrUnix{}.Path) - 1; len(path) > max {
		return nil, fmt.Errorf("control socket %s: %w (at most %d bytes)", path, ErrPathTooLong, max)
	}
	sock, err := socketact.Open(socketact.Spec{Network: "unix", Address: path, Mode: 0o600})
	switch {
	case errors.Is(err, socketact.ErrNotSocket):
		return nil, fmt.Errorf("control socket %s: %w", path, ErrInTheWay)
	case errors.Is(err, unix.EADDRINUSE):
		return nil, fmt.Errorf("control socket %s: %w", path, ErrInUse)
	case err != nil:
		var oe *socketact.OpenError
		if errors.As(err, &oe) { // as net.Listen spelled it before
			return nil, fmt.Errorf("control socket: listen unix %s: %s: %w", path, oe.Op, oe.Err)
		}
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := unixListener(sock)
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Server{ln: ln, path: path, sock: sock}, nil
}

// Restore serves the control socket that a previous zedr-run handed over
// across an exec as descriptor fd (see FD), bound at path. Its file is
// removed on Close only if it is still the one the socket is bound to. fd
// is made close-on-exec again.
func Restore(fd int, path string) (*Server, error) {
	f := os.NewFile(uintptr(fd), "control")
	sock, err := socketact.Adopt(socketact.Spec{Network: "unix", Address: path}, f, false, true)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("control socket handed over: %w", err)
	}
	unix.CloseOnExec(fd)
	ln, err := unixListener(sock)
	if err != nil {
		sock.File.Close()
		return nil, fmt.Errorf("control socket handed over: %w", err)
	}
	return &Server{ln: ln, path: path, sock: sock}, nil
}

// unixListener returns a listener on a copy of sock's descriptor.
func unixListener(sock *socketact.Socket) (*net.UnixListener, error) {
	l, err := net.FileListener(sock.File)
	if err != nil {
		return nil, err
	}
	ln, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("%s is not a unix socket", sock.Spec.Address)
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

// Path is where the socket is bound.
func (s *Server) Path() string { return s.path }

// Socket is the socket file, for whoever must remove it should zedr-run
// die without closing it (the guardian).
func (s *Server) Socket() *socketact.Socket { return s.sock }

// FD returns the listening descriptor to hand over across an exec; the
// next zedr-run passes it to Restore. It stays owned by s.
func (s *Server) FD() (int, error) {
	rc, err := s.ln.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("control socket: %w", err)
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, fmt.Errorf("control socket: %w", err)
	}
	return fd, nil
}

// Close stops accepting and removes the socket file, if it is still ours.
// Requests already accepted are still answered.
func (s *Server) Close() error {
	return errors.Join(s.ln.Close(), s.sock.Close())
}

// Serve accepts connections until Close, answering each on a goroutine of
// its own with h. It logs to log (nil: nowhere) what clients never see:
// refused peers, failed accepts.
func (s *Server) Serve(h Handler, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Warn("control socket: accept", "path", s.path, "err", err)
			time.Sleep(acceptRetry)
			continue
		}
		go serveConn(conn, h, log)
	}
}
