package wrapper

import (
	"os"
	"syscall"
	"time"
)

// effects is everything the state machine does to, or asks of, processes
// and time. Run uses osEffects; the state machine's unit tests use a fake
// that plays the processes and the clock, so that restarts, rollbacks,
// coalescing, rollouts and the crash backoff are tested without a process.
type effects interface {
	// start forks worker w's process (through the shim); the shim's report
	// that it exec'd the command, or why not, comes later as an execEvent.
	start(w *worker) (pid int, err error)
	// signalMain sends sig to w's main process.
	signalMain(w *worker, sig syscall.Signal) error
	// signalLeft sends sig to whatever else is left of w: its process
	// group, its cgroup, the processes that left them holding the sockets.
	signalLeft(w *worker, sig syscall.Signal)
	// alive says whether any process of w but its main process is left.
	alive(w *worker) bool
	// mainAlive says whether w's main process may still run.
	mainAlive(w *worker) bool
	// holdsSockets says whether w's processes may hold the shared sockets:
	// always with LISTEN_FDS, once a process of w's generation bound one in
	// transparent mode.
	holdsSockets(w *worker) bool
	// owner is the worker process pid belongs to, or nil.
	owner(pid int) *worker
	// forget lets go of w, whose processes are all gone.
	forget(w *worker)
	// after posts ev to the loop once d has passed, unless stopped first.
	after(d time.Duration, ev event) timer
	// now is the clock's time.
	now() time.Time
}

// timer is a pending after; *time.Timer is one.
type timer interface{ Stop() bool }

// osEffects is effects on real processes and the real clock.
type osEffects struct{ s *supervisor }

func (o osEffects) start(w *worker) (int, error) {
	s := o.s
	pid, status, err := s.startChild(w.g.n, w.slot)
	if err != nil {
		return 0, err
	}
	s.guard.Add(pid)
	go s.awaitExec(w, status, w.g.n, pid)
	s.startSpare(w) // for the next start, off this one's path (spare_linux.go)
	return pid, nil
}

func (o osEffects) signalMain(w *worker, sig syscall.Signal) error { return w.signalMain(sig) }
func (o osEffects) signalLeft(w *worker, sig syscall.Signal)       { o.s.signalLeft(w, sig) }
func (o osEffects) alive(w *worker) bool                           { return o.s.alive(w) }
func (o osEffects) mainAlive(w *worker) bool                       { return w.mainAlive() }

func (o osEffects) holdsSockets(w *worker) bool {
	if o.s.intercept == nil {
		return len(o.s.cfg.Sockets) > 0
	}
	return o.s.intercept.Holds(w.g.n)
}

func (o osEffects) owner(pid int) *worker {
	w, _ := o.s.ownerOf(pid, os.Getpid())
	return w
}

func (o osEffects) forget(w *worker) {
	o.s.guard.Remove(w.pid)
	o.s.contain.forget(w)
	w.closeMain()
}

func (o osEffects) now() time.Time { return time.Now() }

func (o osEffects) after(d time.Duration, ev event) timer {
	s := o.s
	return time.AfterFunc(d, func() { s.post(ev) })
}
