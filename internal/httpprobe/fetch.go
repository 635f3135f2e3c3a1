package httpprobe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"zedr-run/wrapper/control"
)

// StatusTimeout bounds how long a probe or scrape waits for the
// supervisor's status. The loop answers in microseconds; a second is far
// above that on a loaded machine, and well below the usual probe timeout
// (Kubernetes' timeoutSeconds defaults to 1 s, Prometheus' scrape_timeout
// to 10 s).
const StatusTimeout = time.Second

// ErrNoAnswer is a status the supervisor did not give within the timeout.
var ErrNoAnswer = errors.New("the supervisor did not answer in time")

// flight is one call of the status function; done is closed once st and
// err are set.
type flight struct {
	done chan struct{}
	st   control.Status
	err  error
}

// fetcher calls the status function at most once at a time: a request that
// arrives while a call runs waits for that call's answer.
type fetcher struct {
	status  func() (control.Status, error)
	timeout time.Duration

	mu  sync.Mutex
	cur *flight // the call running, or nil
}

func (f *fetcher) get(ctx context.Context) (control.Status, error) {
	f.mu.Lock()
	fl := f.cur
	if fl == nil {
		fl = &flight{done: make(chan struct{})}
		f.cur = fl
		go func() {
			fl.st, fl.err = f.status()
			f.mu.Lock()
			f.cur = nil
			f.mu.Unlock()
			close(fl.done)
		}()
	}
	f.mu.Unlock()
	t := time.NewTimer(f.timeout)
	defer t.Stop()
	select {
	case <-fl.done:
		return fl.st, fl.err
	case <-t.C:
		return control.Status{}, fmt.Errorf("status: %w (%v)", ErrNoAnswer, f.timeout)
	case <-ctx.Done():
		return control.Status{}, ctx.Err()
	}
}
