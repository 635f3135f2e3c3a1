package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"zedr-run/wrapper/control"
)

// Asking a running zedr-run for its status on the control socket, each
// request bounded by waitLimit: a supervisor loop that is stuck does not
// answer, which is how the tests of a loop that never blocks see it.

// askControl sends req to the zedr-run listening on ctl, waiting at
// most waitLimit for the answer.
func askControl(ctl string, req control.Request) (control.Response, error) {
	var resp control.Response
	conn, err := net.DialTimeout("unix", ctl, waitLimit)
	if err != nil {
		return resp, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitLimit))
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return resp, err
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return resp, fmt.Errorf("no answer to %s within %v: %w", req.Cmd, waitLimit, err)
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return resp, fmt.Errorf("bad answer %q: %v", line, err)
	}
	return resp, nil
}

// controlStatus asks the zedr-run listening on ctl for its status.
func controlStatus(ctl string) (control.Status, error) {
	resp, err := askControl(ctl, control.Request{Cmd: control.CmdStatus})
	if err != nil {
		return control.Status{}, err
	}
	if resp.Status == nil {
		return control.Status{}, fmt.Errorf("no status in the answer: %+v", resp)
	}
	return *resp.Status, nil
}

// waitStatus asks for the status until ok says it is what the test waits
// for. Every request must be answered; the socket may not exist yet.
func waitStatus(t *testing.T, ctl, what string, ok func(control.Status) bool) control.Status {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var last control.Status
	for {
		st, err := controlStatus(ctl)
		switch {
		case err == nil:
			if ok(st) {
				return st
			}
			last = st
		case !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED):
			t.Fatalf("waiting for %s: zedr-run did not answer status: %v", what, err)
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(last)
			t.Fatalf("no %s within %v; last status: %s", what, waitLimit, b)
		}
		time.Sleep(20 * time.Millisecond) // pace the requests
	}
}

// statusPoller asks for the status over and over in the background.
type statusPoller struct {
	stop    chan struct{}
	done    chan struct{}
	answers int
	err     error
}

func pollStatus(ctl string) *statusPoller { return pollStatusEach(ctl, func(control.Status) {}) }

// pollStatusEach is pollStatus handing each answer to each, on the
// poller's goroutine (read what it gathers after finish).
func pollStatusEach(ctl string, each func(control.Status)) *statusPoller {
	p := &statusPoller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			st, err := controlStatus(ctl)
			if err != nil {
				p.err = err
				return
			}
			each(st)
			p.answers++
			select {
			case <-p.stop:
				return
			case <-time.After(10 * time.Millisecond): // pace the requests
			}
		}
	}()
	return p
}

// finish stops the poller and fails the test if a request went unanswered.
func (p *statusPoller) finish(t *testing.T, during string) {
	t.Helper()
	close(p.stop)
	<-p.done
	if p.err != nil {
		t.Fatalf("status went unanswered during %s (after %d answers): %v", during, p.answers, p.err)
	}
	t.Logf("status answered %d times during %s", p.answers, during)
}

// readyWorkers counts the ready workers of the generations serving now,
// not counting generation 1.
func readyWorkers(st control.Status, after int) int {
	n := 0
	for _, g := range st.Generations {
		if !g.Current || g.Gen <= after {
			continue
		}
		for _, w := range g.Workers {
			if w.State == "ready" {
				n++
			}
		}
	}
	return n
}

func liveGens(st control.Status) []int {
	var gens []int
	for _, g := range st.Generations {
		if g.State != "exited" {
			gens = append(gens, g.Gen)
		}
	}
	return gens
}
