package wrapper

import (
	"sync"

	"zedr-run/wrapper/control"
)

// Supervisor is one supervised service. New prepares it and Run
// supervises until told to stop. Restart, Reexec, Stop and Status are
// requests to the running loop, safe from any goroutine: each posts an
// event whose reply channel is buffered, so the loop answers without
// waiting for the requester. Before Run starts they wait for it; once Run
// has returned they fail with ErrStopped.
type Supervisor struct {
	cfg    Config
	events chan event
	done   chan struct{} // closed once Run has returned
	ended  func()        // closes done, once
}

// ErrStopped answers a request that the loop can no longer take: Run has
// returned.
var ErrStopped = control.ErrStopped

// New prepares a Supervisor for cfg; nothing starts before Run.
func New(cfg Config) *Supervisor {
	sv := &Supervisor{cfg: cfg, events: make(chan event, 64), done: make(chan struct{})}
	sv.ended = sync.OnceFunc(func() { close(sv.done) })
	return sv
}

// post hands ev to the loop; false once Run has returned.
func (sv *Supervisor) post(ev event) bool {
	select {
	case sv.events <- ev:
		return true
	case <-sv.done:
		return false
	}
}

// Restart asks for a zero-downtime restart on behalf of source ("signal
// SIGUSR2", "watcher: ...", "control ..."). With wait, it returns once the
// new generation took over (nil) or why not (rolled back, check failed,
// ErrStopping); without, once the loop has the request.
func (sv *Supervisor) Restart(source string, wait bool) error {
	if !wait {
		if !sv.post(Request{Source: source}) {
			return ErrStopped
		}
		return nil
	}
	done := make(chan error, 1)
	if !sv.post(Request{Source: source, Done: done}) {
		return ErrStopped
	}
	select {
	case err := <-done:
		return err
	case <-sv.done:
		return ErrStopped
	}
}

// Stop asks zedr-run to stop every generation and exit, as SIGTERM does.
func (sv *Supervisor) Stop(by string) error {
	if !sv.post(stopRequest{by: by}) {
		return ErrStopped
	}
	return nil
}

// Status returns a snapshot of the supervisor's state.
func (sv *Supervisor) Status() (control.Status, error) {
	reply := make(chan control.Status, 1)
	if !sv.post(statusRequest{reply}) {
		return control.Status{}, ErrStopped
	}
	select {
	case st := <-reply:
		return st, nil
	case <-sv.done:
		return control.Status{}, ErrStopped
	}
}

// Reexec asks zedr-run to exec its binary from disk in place (zedr-run
// reexec). It returns that binary's path and nil once the new binary has
// passed its check, or why not. The exec then waits, a bounded while and
// off the loop, until answered is closed, so that the requester can write
// its reply first; a requester with nothing
// to write passes a closed channel.
func (sv *Supervisor) Reexec(by string, answered <-chan struct{}) (string, error) {
	done := make(chan error, 1)
	if !sv.post(reexecRequest{by: by, done: done, written: answered}) {
		return "", ErrStopped
	}
	select {
	case err := <-done:
		if err != nil {
			return "", err
		}
		return sv.cfg.SelfPath, nil
	case <-sv.done:
		return "", ErrStopped
	}
}
