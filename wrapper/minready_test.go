package wrapper

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The state machine with --min-ready, the graceful stop of a rolled-back
// generation, and what is left once a stopped main process exits.

func isMinReady(ev event) bool { return isTimer(timerMinReady)(ev) }

// serveMinReady plays generation n ready, then up for --min-ready.
func (m *machine) serveMinReady(n int) {
	m.t.Helper()
	m.serve(n)
	m.fire("min-ready", isMinReady)
}

// TestMachineMinReadyRollback: a new generation that dies within
// --min-ready after its readiness signal is rolled back; the serving one
// was never told to stop, and the restart's requester hears why.
func TestMachineMinReadyRollback(t *testing.T) {
	m := newMachine(t, Config{MinReady: time.Second})
	m.serveMinReady(1)
	old := m.started(1)[0]
	done := m.restart("test")
	m.serve(2)
	noAnswer(t, done)
	if sigs := m.signals(old); len(sigs) != 0 {
		t.Fatalf("generation 1 got %v within generation 2's --min-ready", sigs)
	}
	m.exit(m.started(2)[0], 1)
	err := answer(t, done)
	if err == nil || !strings.Contains(err.Error(), "exited before ready") {
		t.Fatalf("restart: %v, want a rollback: exited before ready", err)
	}
	if sigs := m.signals(old); len(sigs) != 0 {
		t.Fatalf("generation 1 got %v", sigs)
	}
	if !slices.Equal(m.servingGens(), []int{1}) {
		t.Fatalf("serving %v, want generation 1", m.servingGens())
	}
	if st := m.s.snapshot(); st.Rollbacks != 1 {
		t.Errorf("%d rollbacks, want 1", st.Rollbacks)
	}
}

// TestMachineMinReadySuccess: the old generation is told to stop only once
// the new one has stayed up --min-ready, which runs from its readiness.
func TestMachineMinReadySuccess(t *testing.T) {
	m := newMachine(t, Config{MinReady: 3 * time.Second})
	m.serveMinReady(1)
	old := m.started(1)[0]
	done := m.restart("test")
	m.serve(2)
	noAnswer(t, done)
	if d := m.fire("min-ready", isMinReady); d != 3*time.Second {
		t.Errorf("min-ready timer of %v, want 3s", d)
	}
	if err := answer(t, done); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if sigs := m.signals(old); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("generation 1 got %v, want the stop signal once", sigs)
	}
	if !slices.Equal(m.servingGens(), []int{2}) {
		t.Fatalf("serving %v, want generation 2", m.servingGens())
	}
}

// TestMinReadyDefaults: listen has a default, the other kinds none, and
// NoMinReady turns it off.
func TestMinReadyDefaults(t *testing.T) {
	for _, tc := range []struct {
		kind string
		set  time.Duration
		want time.Duration
	}{
		{ReadyListen, 0, DefaultMinReadyListen},
		{ReadyListen, NoMinReady, 0},
		{ReadyListen, 2 * time.Second, 2 * time.Second},
		{ReadyNotify, 0, 0},
		{ReadyDelay, 0, 0},
		{ReadyExec, 0, 0},
		{ReadyNotify, time.Second, time.Second},
	} {
		c := Config{Ready: Readiness{Kind: tc.kind}, MinReady: tc.set}
		if got := c.minReady(); got != tc.want {
			t.Errorf("%s with MinReady %v: %v, want %v", tc.kind, tc.set, got, tc.want)
		}
	}
}

// TestMachineRollbackStopsHolderGracefully: a rolled-back generation that
// may hold the shared socket gets the stop signal and --stop-timeout, not
// SIGKILL at once; one that does not is killed at once.
func TestMachineRollbackStopsHolderGracefully(t *testing.T) {
	for _, holds := range []bool{true, false} {
		m := newMachine(t, Config{})
		m.fx.holds = holds
		m.serve(1)
		done := m.restart("test")
		pid := m.started(2)[0]
		m.s.handle(execEvent{w: m.fx.procs[pid].w})
		m.fire("ready timeout", isTimer(timerReadyTimeout))
		if err := answer(t, done); err == nil {
			t.Fatal("the restart succeeded")
		}
		if !holds {
			if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGKILL}) {
				t.Errorf("a rolled-back generation that holds no socket got %v, want SIGKILL", sigs)
			}
			continue
		}
		if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
			t.Fatalf("a rolled-back generation that holds the socket got %v, want the stop signal", sigs)
		}
		if d := m.fire("stop timeout", isTimer(timerStop)); d != DefaultStopTimeout {
			t.Errorf("stop timeout %v, want %v", d, DefaultStopTimeout)
		}
		if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}) {
			t.Errorf("after the stop timeout: %v, want SIGTERM then SIGKILL", sigs)
		}
	}
}

// TestMachineRollbackWithinMinReadyStopsWhatIsLeft: the main process of a
// generation that held the socket dies within --min-ready; what is left of
// it (workers, handlers) gets the stop signal, and SIGKILL only at the stop
// timeout.
func TestMachineRollbackWithinMinReadyStopsWhatIsLeft(t *testing.T) {
	m := newMachine(t, Config{MinReady: time.Second})
	m.fx.holds = true
	m.serveMinReady(1)
	done := m.restart("test")
	m.serve(2)
	pid := m.started(2)[0]
	p := m.fx.procs[pid]
	p.left = true
	m.exit(pid, 1)
	if err := answer(t, done); err == nil {
		t.Fatal("the restart succeeded")
	}
	if !slices.Equal(p.leftSignals, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("what is left got %v, want the stop signal", p.leftSignals)
	}
	m.fire("stop timeout", isTimer(timerStop))
	if !slices.Equal(p.leftSignals, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}) {
		t.Fatalf("what is left got %v after the stop timeout, want SIGTERM then SIGKILL", p.leftSignals)
	}
}

// TestMachineMixedKill: once a stopped generation's main process exits,
// what is left gets no signal until the stop timeout SIGKILLs it
// (KillMode=mixed); after a crash, what is left gets the stop signal.
func TestMachineMixedKill(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	old := m.started(1)[0]
	p := m.fx.procs[old]
	p.left = true
	m.restart("test")
	m.serve(2)
	m.exit(old, 0)
	if len(p.leftSignals) != 0 {
		t.Fatalf("what is left of the stopped generation got %v when its main process exited, want nothing", p.leftSignals)
	}
	if len(m.s.gens) != 2 {
		t.Fatalf("%d generations, want the stopped one kept while a process of it is left", len(m.s.gens))
	}
	m.fire("stop timeout", isTimer(timerStop))
	if !slices.Equal(p.leftSignals, []syscall.Signal{syscall.SIGKILL}) {
		t.Fatalf("what is left got %v at the stop timeout, want SIGKILL", p.leftSignals)
	}

	cur := m.started(2)[0]
	q := m.fx.procs[cur]
	q.left = true
	m.exit(cur, 1)
	if !slices.Equal(q.leftSignals, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("what is left after a crash got %v, want the stop signal", q.leftSignals)
	}
}
