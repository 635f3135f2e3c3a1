package wrapper

import (
	"os"

	"zedr-run/wrapper/control"
	"zedr-run/wrapper/intercept"
)

// Transparent mode (--intercept-bind) is package intercept; this is the
// supervisor's side of it: the interceptor is built on the first start,
// each worker's listener is taken on awaitExec's goroutine, and a
// generation that has taken its sockets comes back as a listenEvent.

// listenEvent is intercept.Listen as the loop's event.
type listenEvent struct{ intercept.Listen }

// adoptEvent is a socket transparent mode adopted.
type adoptEvent struct{ intercept.Adoption }

// onAdopt has an adopted socket looked after as a declared one when
// zedr-run dies: the guardian removes its unix socket file (if it is still
// that socket's) and, without a cgroup, kills the processes holding it; the
// scan for escaped processes looks for it too.
func (s *supervisor) onAdopt(ev adoptEvent) {
	if ev.Path != "" && !s.cfg.KeepSocketFiles {
		s.guard.File(ev.FileDev, ev.FileIno, ev.Path)
	}
	s.contain.inodes[ev.Inode] = true
	s.guard.Socket(ev.Inode)
}

// startIntercepting builds the interceptor on the first start.
func (s *supervisor) startIntercepting() error {
	if s.intercept != nil {
		return nil
	}
	ic, err := intercept.New(s.cfg.Sockets, s.cfg.InterceptAdopt, s.log, func(l intercept.Listen) { s.post(listenEvent{l}) },
		func(a intercept.Adoption) { s.post(adoptEvent{a}) })
	if err != nil {
		return err
	}
	s.intercept = ic
	return nil
}

// receiveListener takes the seccomp listener of worker pid of generation
// gen from its shim's status channel and has it served, on awaitExec's
// goroutine: nil, or what went wrong (the shim's error message).
func (s *supervisor) receiveListener(status *os.File, gen, pid int) error {
	return s.intercept.Receive(func(buf, oob []byte) (int, int, error) { return recvStatus(status, buf, oob) }, gen, pid)
}

// closeIntercept closes the adopted sockets once the loop has ended.
func (s *supervisor) closeIntercept() {
	if s.intercept != nil {
		s.intercept.Close()
	}
}

// adoptedStatus lists the adopted sockets for status, after the declared
// ones; they have no LISTEN_FDS number (FD 0).
func (s *supervisor) adoptedStatus() []control.SocketStatus {
	if s.intercept == nil {
		return nil
	}
	var out []control.SocketStatus
	for _, a := range s.intercept.Adopted() {
		out = append(out, control.SocketStatus{Spec: a.Spec, Addr: a.Addr, AdoptedBy: a.Gen})
	}
	return out
}

// onListen: with --ready listen, a worker is ready once it has taken its
// sockets (package intercept's Listen).
func (s *supervisor) onListen(ev listenEvent) {
	if s.cfg.Ready.Kind != ReadyListen {
		return
	}
	for _, g := range s.gens {
		for _, w := range g.workers {
			if w.pid == ev.PID {
				s.onReady(w, "took its sockets at fd "+ev.FDs)
				return
			}
		}
	}
}
