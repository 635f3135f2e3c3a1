package control

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// serveConn answers the one request of conn.
func serveConn(conn *net.UnixConn, h Handler, log *slog.Logger) {
	defer conn.Close()
	reply := func(r Response) {
		b, _ := json.Marshal(r)
		conn.SetWriteDeadline(time.Now().Add(ReadTimeout))
		conn.Write(append(b, '\n'))
	}
	// Read the request first, even from a peer about to be refused, so
	// that closing the connection does not reset it before it reads why.
	conn.SetReadDeadline(time.Now().Add(ReadTimeout))
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return // the client went away
	}
	conn.SetReadDeadline(time.Time{})
	cred, err := peerCred(conn)
	if err != nil {
		log.Warn("control socket: peer credentials", "err", err)
		reply(Response{Error: fmt.Sprintf("zedr-run could not check who you are: %v", err)})
		return
	}
	if uid := os.Getuid(); int(cred.Uid) != uid && cred.Uid != 0 {
		log.Warn("control socket: refused a peer of another user", "peer_pid", cred.Pid, "peer_uid", cred.Uid)
		reply(Response{Error: fmt.Sprintf("permission denied: zedr-run pid=%d runs as uid %d and takes commands only from uid %d or root, not from uid %d", os.Getpid(), uid, uid, cred.Uid)})
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(Response{Error: fmt.Sprintf("bad request %q: %v", line, err)})
		return
	}
	by := fmt.Sprintf("control (pid=%d uid=%d)", cred.Pid, cred.Uid)
	if req.Cmd == CmdReexec {
		// The answer is written before the supervisor execs: it waits for
		// answered.
		answered := make(chan struct{})
		defer close(answered)
		path, err := h.Reexec(by, answered)
		if err != nil {
			reply(Response{Error: err.Error()})
			return
		}
		reply(Response{OK: true, Message: fmt.Sprintf("zedr-run pid=%d is re-executing %s", os.Getpid(), path)})
		return
	}
	reply(answer(h, req, by))
}

// answer carries out every request but a reexec.
func answer(h Handler, req Request, by string) Response {
	switch req.Cmd {
	case CmdStatus:
		st, err := h.Status()
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{OK: true, Status: &st}
	case CmdStop:
		if err := h.Stop(by); err != nil {
			return Response{Error: err.Error()}
		}
		return Response{OK: true, Message: fmt.Sprintf("zedr-run pid=%d is stopping", os.Getpid())}
	case CmdRestart:
		if err := h.Restart(by, req.Wait); err != nil {
			return Response{Error: err.Error()}
		}
		if !req.Wait {
			return Response{OK: true, Message: "restart requested"}
		}
		st, err := h.Status()
		if err != nil {
			return Response{Error: err.Error()}
		}
		msg := "restart done"
		for _, g := range st.Generations {
			if g.Current {
				msg = fmt.Sprintf("generation %d pid=%d took over", g.Gen, g.PID)
			}
		}
		return Response{OK: true, Message: msg, Status: &st}
	}
	return Response{Error: fmt.Sprintf("unknown command %q: want %s, %s, %s or %s", req.Cmd, CmdStatus, CmdRestart, CmdStop, CmdReexec)}
}

// peerCred returns who is at the other end of conn (SO_PEERCRED).
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
