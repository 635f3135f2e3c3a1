package wrapper

import "zedr-run/wrapper/control"

// The supervisor is the control socket's control.Handler. Each request is
// a method that posts an event to the loop with a reply channel and waits
// for the answer, or for the loop to end; the loop never blocks on a reply
// channel (each holds one answer).

var _ control.Handler = (*supervisor)(nil)

// statusRequest asks the loop for a snapshot.
type statusRequest struct{ reply chan<- control.Status }

// stopRequest asks the loop to stop everything, as SIGTERM does.
type stopRequest struct{ by string }

// Status asks the loop for a snapshot; control.ErrStopped once it has
// ended.
func (s *supervisor) Status() (control.Status, error) {
	reply := make(chan control.Status, 1)
	s.post(statusRequest{reply})
	select {
	case st := <-reply:
		return st, nil
	case <-s.done:
		return control.Status{}, control.ErrStopped
	}
}

// Restart asks the loop for a restart; with wait, it returns the outcome.
func (s *supervisor) Restart(by string, wait bool) error {
	done := make(chan error, 1) // the loop never blocks on it, read or not
	s.post(Request{Source: by, Done: done})
	if !wait {
		return nil
	}
	select {
	case err := <-done:
		return err
	case <-s.done:
		return control.ErrStopped
	}
}

// Stop asks the loop to stop everything, as SIGTERM does.
func (s *supervisor) Stop(by string) error {
	s.post(stopRequest{by: by})
	return nil
}

// Reexec asks the loop to exec zedr-run's binary in place. It returns that
// binary's path and nil just before the exec, which waits for answered.
func (s *supervisor) Reexec(by string, answered <-chan struct{}) (string, error) {
	done := make(chan error, 1)
	s.post(reexecRequest{by: by, done: done, written: answered})
	select {
	case err := <-done:
		if err != nil {
			return "", err
		}
		return s.cfg.SelfPath, nil
	case <-s.done:
		return "", control.ErrStopped
	}
}
