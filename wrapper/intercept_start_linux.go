package wrapper

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
	"zedr-run/reexec"
)

// receiveListener reads the shim's first message on the status channel,
// on awaitExec's goroutine: the seccomp listener (then it starts serving it
// and returns nil), or the shim's error message.
func (s *supervisor) receiveListener(status *os.File, gen, pid int) error {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, err := recvStatus(status, buf, oob)
	if err != nil {
		return err
	}
	listener := -1
	if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range cmsgs {
			if fds, err := unix.ParseUnixRights(&m); err == nil {
				for _, f := range fds {
					if listener < 0 {
						listener = f
					} else {
						unix.Close(f)
					}
				}
			}
		}
	}
	switch {
	case listener >= 0 && reexec.IsListenerMessage(buf[:n]):
		go s.intercept.serve(listener, gen, pid)
		return nil
	case listener >= 0:
		unix.Close(listener)
	case n == 0:
		return errors.New("the shim exec'd the command without the seccomp filter")
	}
	return errors.New(string(buf[:n]))
}

// onListen: with --ready listen, a worker is ready once it has taken every
// declared socket.
func (s *supervisor) onListen(ev listenEvent) {
	if s.cfg.Ready.Kind != ReadyListen {
		return
	}
	for _, g := range s.gens {
		for _, w := range g.workers {
			if w.pid == ev.pid {
				s.onReady(w, "took its sockets at fd "+ev.fds)
				return
			}
		}
	}
}

// startIntercepting builds the interceptor on the first start.
func (s *supervisor) startIntercepting() error {
	if s.intercept != nil {
		return nil
	}
	if err := seccomp.Check(); err != nil {
		return err
	}
	ic, err := newInterceptor(s.cfg.Sockets, s.log, s.post)
	if err != nil {
		return err
	}
	s.intercept = ic
	return nil
}
