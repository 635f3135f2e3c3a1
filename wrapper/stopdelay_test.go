package wrapper

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The stop delay through the state machine (fake effects, machine_test.go).

func isStopDelay(ev event) bool { _, ok := ev.(stopDelayOver); return ok }

// TestStopDelay: after SIGTERM zedr-run says it is stopping at once, but the
// child gets no signal until the stop delay's timer fires; restarts are
// refused meanwhile.
func TestStopDelay(t *testing.T) {
	m := newMachine(t, Config{StopDelay: 5 * time.Second})
	m.serve(1)
	pid := m.started(1)[0]
	m.s.onSignal(unix.SIGTERM)
	if st := m.s.snapshot(); !st.Stopping {
		t.Fatal("status does not say stopping during the stop delay")
	}
	if sigs := m.signals(pid); len(sigs) != 0 {
		t.Fatalf("the child got %v during the stop delay", sigs)
	}
	if !slices.Equal(m.servingGens(), []int{1}) {
		t.Fatalf("serving %v during the stop delay, want generation 1", m.servingGens())
	}
	if err := answer(t, m.restart("test")); err != ErrStopping {
		t.Fatalf("a restart during the stop delay: %v, want ErrStopping", err)
	}
	if d := m.fire("stop delay", isStopDelay); d != 5*time.Second {
		t.Fatalf("stop delay timer of %v, want 5s", d)
	}
	if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("after the stop delay the child got %v, want the stop signal", sigs)
	}
	m.exit(pid, 0)
	if len(m.s.gens) != 0 {
		t.Fatalf("%d generations left", len(m.s.gens))
	}
}

// TestStopDelaySkipped: a second SIGTERM, or a stop request, during the
// delay starts the graceful stop at once (not the kill a second SIGTERM
// means otherwise), and the delay's timer is stopped.
func TestStopDelaySkipped(t *testing.T) {
	for _, how := range []string{"second SIGTERM", "stop request"} {
		t.Run(how, func(t *testing.T) {
			m := newMachine(t, Config{StopDelay: time.Hour})
			m.serve(1)
			pid := m.started(1)[0]
			m.s.onSignal(unix.SIGTERM)
			if how == "second SIGTERM" {
				m.s.onSignal(unix.SIGTERM)
			} else {
				m.s.handle(stopRequest{by: "control"})
			}
			if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
				t.Fatalf("the child got %v, want the stop signal alone", sigs)
			}
			for _, tm := range m.fx.timers {
				if isStopDelay(tm.ev) && !tm.stopped {
					t.Fatal("the stop delay's timer still runs")
				}
			}
		})
	}
}

// TestNoStopDelay: without a stop delay SIGTERM stops the child at once.
func TestNoStopDelay(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	pid := m.started(1)[0]
	m.s.onSignal(unix.SIGTERM)
	if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("the child got %v, want the stop signal at once", sigs)
	}
}
