package control

import "errors"

// Handler carries out the requests the server accepted. Its methods run on
// the connection's goroutine, one call per request, several at a time; the
// server knows nothing else of the supervisor.
type Handler interface {
	// Status returns a snapshot, or an error (ErrStopped) once the
	// supervisor has stopped.
	Status() (Status, error)
	// Restart asks for a restart by by. With wait false it returns once
	// the request is posted; with wait true it returns the restart's
	// outcome: nil when the new generation took over, or why not.
	Restart(by string, wait bool) error
	// Stop asks zedr-run to stop everything, as SIGTERM does.
	Stop(by string) error
	// Reexec asks zedr-run to exec its binary in place. It returns the
	// path of that binary and a nil error just before the exec, or why
	// not. The supervisor must not exec before answered is closed: the
	// server closes it once the answer is written (or could not be).
	Reexec(by string, answered <-chan struct{}) (path string, err error)
}

// ErrStopped is what a Handler returns when the supervisor ended before it
// could answer.
var ErrStopped = errors.New("zedr-run stopped before it could answer")
