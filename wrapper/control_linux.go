package wrapper

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/socketact"
)

// The control socket: a unix stream socket, mode 0600, on which zedr-run
// answers one JSON request per connection with one JSON response line. Only
// a peer with zedr-run's own uid, or root, may use it (SO_PEERCRED). Its
// descriptor, and every accepted one, is close-on-exec: no child gets it.

// controlReadTimeout bounds how long a client may take to send its request.
const controlReadTimeout = 10 * time.Second

// The commands of the control protocol.
const (
	CmdStatus  = "status"
	CmdRestart = "restart"
	CmdStop    = "stop"
	CmdReexec  = "reexec"
)

// ControlRequest is what a client sends, as one line of JSON.
type ControlRequest struct {
	Cmd  string `json:"cmd"`            // CmdStatus, CmdRestart or CmdStop
	Wait bool   `json:"wait,omitempty"` // restart: answer once it is done
}

// ControlResponse is zedr-run's answer, as one line of JSON.
type ControlResponse struct {
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`   // why not, when !OK
	Message string  `json:"message,omitempty"` // what happened, for people
	Status  *Status `json:"status,omitempty"`  // status
}

type controlServer struct {
	ln   *net.UnixListener
	path string
	sock *socketact.Socket // the socket file we created, removed by Close only if still there
}

// listenControl creates the control socket at path, mode 0600. A stale
// socket file there (nobody listening) is replaced; anything else is an
// error. It is opened as a --listen unix socket is (socketact.Open), so no
// step follows a symbolic link or touches a file that zedr-run did not
// create.
func listenControl(path string) (*controlServer, error) {
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("control socket %s: path longer than %d bytes; choose a shorter one with --control", path, len(unix.RawSockaddrUnix{}.Path)-1)
	}
	sock, err := socketact.Open(socketact.Spec{Network: "unix", Address: path, Mode: 0o600})
	switch {
	case errors.Is(err, socketact.ErrNotSocket):
		return nil, fmt.Errorf("control socket %s: a file that is not a socket is in the way; remove it or choose another path with --control", path)
	case errors.Is(err, unix.EADDRINUSE):
		return nil, fmt.Errorf("control socket %s: another zedr-run listens there; choose another path with --control", path)
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
	return &controlServer{ln: ln, path: path, sock: sock}, nil
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

// Close stops accepting and removes the socket file, if it is still ours.
func (c *controlServer) Close() error {
	return errors.Join(c.ln.Close(), c.sock.Close())
}

// serve accepts connections until the listener is closed.
func (c *controlServer) serve(s *supervisor) {
	for {
		conn, err := c.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control socket: accept", "path", c.path, "err", err)
			time.Sleep(100 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		go c.handle(s, conn)
	}
}

func (c *controlServer) handle(s *supervisor, conn *net.UnixConn) {
	defer conn.Close()
	reply := func(r ControlResponse) {
		b, _ := json.Marshal(r)
		conn.SetWriteDeadline(time.Now().Add(controlReadTimeout))
		conn.Write(append(b, '\n'))
	}
	// Read the request first, even from a peer about to be refused, so
	// that closing the connection does not reset it before it reads why.
	conn.SetReadDeadline(time.Now().Add(controlReadTimeout))
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return // the client went away
	}
	conn.SetReadDeadline(time.Time{})
	cred, err := peerCred(conn)
	if err != nil {
		s.log.Warn("control socket: peer credentials", "err", err)
		reply(ControlResponse{Error: fmt.Sprintf("zedr-run could not check who you are: %v", err)})
		return
	}
	if uid := os.Getuid(); int(cred.Uid) != uid && cred.Uid != 0 {
		s.log.Warn("control socket: refused a peer of another user", "peer_pid", cred.Pid, "peer_uid", cred.Uid)
		reply(ControlResponse{Error: fmt.Sprintf("permission denied: zedr-run pid=%d runs as uid %d and takes commands only from uid %d or root, not from uid %d", os.Getpid(), uid, uid, cred.Uid)})
		return
	}
	var req ControlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		reply(ControlResponse{Error: fmt.Sprintf("bad request %q: %v", line, err)})
		return
	}
	by := fmt.Sprintf("control (pid=%d uid=%d)", cred.Pid, cred.Uid)
	if req.Cmd == CmdReexec {
		// The answer must be written before zedr-run execs: the loop waits
		// for written.
		done, written := make(chan error, 1), make(chan struct{})
		defer close(written)
		s.post(reexecRequest{by: by, done: done, written: written})
		select {
		case err := <-done:
			if err != nil {
				reply(ControlResponse{Error: err.Error()})
				return
			}
			reply(ControlResponse{OK: true, Message: fmt.Sprintf("zedr-run pid=%d is re-executing %s", os.Getpid(), s.cfg.SelfPath)})
		case <-s.done:
			reply(ControlResponse{Error: "zedr-run stopped before it could answer"})
		}
		return
	}
	reply(s.control(req, by))
}

// control carries out one request. It runs on the connection's goroutine
// and reaches the supervisor's state only through events.
func (s *supervisor) control(req ControlRequest, by string) ControlResponse {
	stopped := ControlResponse{Error: "zedr-run stopped before it could answer"}
	switch req.Cmd {
	case CmdStatus:
		st, ok := s.requestStatus()
		if !ok {
			return stopped
		}
		return ControlResponse{OK: true, Status: &st}
	case CmdStop:
		s.post(stopRequest{by: by})
		return ControlResponse{OK: true, Message: fmt.Sprintf("zedr-run pid=%d is stopping", os.Getpid())}
	case CmdRestart:
		done := make(chan error, 1) // the loop never blocks on it, read or not
		s.post(Request{Source: by, Done: done})
		if !req.Wait {
			return ControlResponse{OK: true, Message: "restart requested"}
		}
		select {
		case err := <-done:
			if err != nil {
				return ControlResponse{Error: err.Error()}
			}
		case <-s.done:
			return stopped
		}
		st, ok := s.requestStatus()
		if !ok {
			return stopped
		}
		msg := "restart done"
		for _, g := range st.Generations {
			if g.Current {
				msg = fmt.Sprintf("generation %d pid=%d took over", g.Gen, g.PID)
			}
		}
		return ControlResponse{OK: true, Message: msg, Status: &st}
	}
	return ControlResponse{Error: fmt.Sprintf("unknown command %q: want %s, %s, %s or %s", req.Cmd, CmdStatus, CmdRestart, CmdStop, CmdReexec)}
}

// requestStatus asks the loop for a snapshot; false if the loop has ended.
func (s *supervisor) requestStatus() (Status, bool) {
	reply := make(chan Status, 1)
	s.post(statusRequest{reply})
	select {
	case st := <-reply:
		return st, true
	case <-s.done:
		return Status{}, false
	}
}

func peerCred(conn *net.UnixConn) (*unix.Ucred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}
