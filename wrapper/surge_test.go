package wrapper

import (
	"slices"
	"testing"
)

// The surge of a rolling restart (--surge): up to Surge new workers start
// at once, each ready one replaces the old worker of its slot, and capacity
// never drops below Workers.

// startingPIDs lists the workers of generation n still starting.
func (m *machine) startingPIDs(n int) []int {
	var pids []int
	for _, pid := range m.started(n) {
		if p := m.fx.procs[pid]; p.alive && p.w.state == starting {
			pids = append(pids, pid)
		}
	}
	return pids
}

// capacity counts the slots with a ready worker serving.
func (m *machine) capacity() int {
	n := 0
	for _, w := range m.s.slots {
		if w != nil && w.state == ready {
			n++
		}
	}
	return n
}

// TestMachineSurge: with 6 workers and a surge of 2, two new workers start
// at once, never more; capacity stays 6 throughout; generation 2 ends up in
// every slot.
func TestMachineSurge(t *testing.T) {
	const n, k = 6, 2
	m := newMachine(t, Config{Workers: n, Surge: k})
	m.serve(1)
	done := m.restart("test")
	for step := 0; ; step++ {
		starting := m.startingPIDs(2)
		if len(starting) == 0 {
			break
		}
		if want := min(k, n-step); len(starting) != want {
			t.Fatalf("step %d: %d new workers starting, want %d", step, len(starting), want)
		}
		if c := m.capacity(); c != n {
			t.Fatalf("step %d: capacity %d (%v), want %d", step, c, m.servingGens(), n)
		}
		noAnswer(t, done)
		m.ready(starting[len(starting)-1]) // the newest first: order does not matter
		if c := m.capacity(); c != n {
			t.Fatalf("step %d, after a ready: capacity %d (%v), want %d", step, c, m.servingGens(), n)
		}
		if step > n {
			t.Fatal("the rollout does not end")
		}
	}
	if err := answer(t, done); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.servingGens(), []int{2, 2, 2, 2, 2, 2}) {
		t.Errorf("serving %v, want generation 2 in every slot", m.servingGens())
	}
	if got := len(m.started(2)); got != n {
		t.Errorf("generation 2 started %d workers, want %d", got, n)
	}
	for _, pid := range m.started(1) {
		if len(m.signals(pid)) != 1 {
			t.Errorf("old worker pid=%d got signals %v, want the stop signal once", pid, m.signals(pid))
		}
	}
}

// TestMachineSurgeFailure: a new worker that fails mid-way stops the
// rollout: the other one starting is given up, no more start, the workers
// already replaced keep serving and the others keep generation 1, so
// capacity stays 6.
func TestMachineSurgeFailure(t *testing.T) {
	const n, k = 6, 2
	m := newMachine(t, Config{Workers: n, Surge: k})
	m.serve(1)
	done := m.restart("test")
	for range 2 {
		m.ready(m.startingPIDs(2)[0])
	}
	starting := m.startingPIDs(2)
	if len(starting) != k {
		t.Fatalf("%d new workers starting after two were ready, want %d", len(starting), k)
	}
	bad, other := starting[0], starting[1]
	m.s.handle(execEvent{w: m.fx.procs[bad].w})
	m.exit(bad, 1)
	if err := answer(t, done); err == nil {
		t.Fatal("the restart succeeded")
	}
	if c := m.capacity(); c != n {
		t.Fatalf("capacity %d (%v), want %d", c, m.servingGens(), n)
	}
	if got := m.servingGens(); !slices.Equal(got, []int{2, 2, 1, 1, 1, 1}) {
		t.Errorf("serving %v, want generation 2 in the two slots replaced and 1 in the others", got)
	}
	if sigs := m.signals(other); len(sigs) == 0 {
		t.Errorf("the other new worker still starting (pid=%d) was not stopped", other)
	}
	if got := len(m.started(2)); got != 4 {
		t.Errorf("generation 2 started %d workers, want 4: none after the failure", got)
	}
}

// TestMachineSurgeAll: a surge of Workers is --rollout all: every new
// worker starts at once and none takes a slot before all are ready.
func TestMachineSurgeAll(t *testing.T) {
	const n = 3
	m := newMachine(t, Config{Workers: n, Surge: n})
	m.serve(1)
	done := m.restart("test")
	news := m.started(2)
	if len(news) != n {
		t.Fatalf("%d new workers started, want %d at once", len(news), n)
	}
	m.ready(news[0])
	m.ready(news[1])
	if got := m.servingGens(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("serving %v before every new worker was ready, want generation 1 throughout (as --rollout all)", got)
	}
	m.ready(news[2])
	if err := answer(t, done); err != nil {
		t.Fatal(err)
	}
	if got := m.servingGens(); !slices.Equal(got, []int{2, 2, 2}) {
		t.Errorf("serving %v, want generation 2 in every slot", got)
	}
}
