package wrapper

import (
	"testing"
	"time"
)

// TestOnReadySeesEachReadyGeneration: Config.OnReady (the metrics'
// time-to-ready histogram) hears every generation that became ready, the
// first and a restarted one, and never one that was rolled back.
func TestOnReadySeesEachReadyGeneration(t *testing.T) {
	var seen []time.Duration
	m := newMachine(t, Config{OnReady: func(d time.Duration) { seen = append(seen, d) }})
	m.serve(1)
	if len(seen) != 1 {
		t.Fatalf("after generation 1 became ready OnReady was called %d times; want 1", len(seen))
	}
	done := m.restart("test")
	pid := m.started(2)[0]
	m.s.handle(execEvent{w: m.fx.procs[pid].w})
	m.exit(pid, 1) // exits before ready: a rollback
	if err := answer(t, done); err == nil {
		t.Fatal("a generation that exited before ready was not rolled back")
	}
	if len(seen) != 1 {
		t.Fatalf("a rolled-back generation was observed: OnReady called %d times; want 1", len(seen))
	}
	m.restart("test")
	m.serve(3)
	if len(seen) != 2 {
		t.Fatalf("after generation 3 became ready OnReady was called %d times; want 2", len(seen))
	}
	for i, d := range seen {
		if d < 0 {
			t.Errorf("observation %d is %v; want a duration of 0 or more", i, d)
		}
	}
	if st := m.s.snapshot(); st.Rollbacks != 1 || st.Restarts != 1 {
		t.Errorf("status: rollbacks %d restarts %d; want 1 and 1", st.Rollbacks, st.Restarts)
	}
}
