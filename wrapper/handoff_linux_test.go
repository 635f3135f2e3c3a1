package wrapper

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"

	"zedr-run/reexec"
	"zedr-run/wrapper/control"
)

// TestHandoffStates: every state of the supervisor travels across a
// reexec under its own name and comes back as itself, and every state a
// handoff can carry is one of the supervisor's.
func TestHandoffStates(t *testing.T) {
	for st := range stateNames {
		hs, ok := handoffStates[st]
		if !ok {
			t.Errorf("state %v has no name in the handoff", st)
			continue
		}
		b, err := json.Marshal(hs)
		if err != nil {
			t.Errorf("state %v: %v", st, err)
			continue
		}
		var back reexec.HandoffState
		if err := json.Unmarshal(b, &back); err != nil || string(b) != `"`+st.String()+`"` || fromHandoff[back] != st {
			t.Errorf("state %v travels as %s and comes back as %v (%v)", st, b, fromHandoff[back], err)
		}
	}
	for _, hs := range []reexec.HandoffState{reexec.StateStarting, reexec.StateReady, reexec.StateDraining, reexec.StateExited} {
		if _, ok := fromHandoff[hs]; !ok {
			t.Errorf("handoff state %q unknown to the supervisor", hs)
		}
	}
}

// TestHandoffHist: the history travels as the JSON the supervisor's status
// types encode to, byte for byte as when the handoff embedded them, and
// comes back as it was.
func TestHandoffHist(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	last := &control.RestartResult{Gen: 3, By: "signal SIGUSR2", Result: "rolled back", Reason: "not ready in time", At: at}
	exited := []control.GenerationStatus{{Gen: 1, PID: 101, State: "exited", Why: "first start", Started: at, ReadyAfter: time.Second, Exit: "exit status 0",
		Workers: []control.WorkerStatus{{Worker: 0, PID: 101, State: "exited", Exit: "exit status 0"}}}}
	old, err := json.Marshal(struct {
		Restarts  int                        `json:"restarts"`
		Rollbacks int                        `json:"rollbacks"`
		Crashes   int                        `json:"crashes"`
		Last      *control.RestartResult     `json:"last"`
		Exited    []control.GenerationStatus `json:"exited"`
	}{1, 2, 3, last, exited})
	if err != nil {
		t.Fatal(err)
	}
	s := &supervisor{log: slog.New(slog.DiscardHandler), hist: history{restarts: 1, rollbacks: 2, crashes: 3, last: last, exited: exited}}
	h, err := s.hist.handoff()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, old) {
		t.Errorf("history encodes as\n%s\nwas\n%s", b, old)
	}
	var back reexec.HandoffHist
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	s.hist = history{}
	s.restoreHist(back)
	if !reflect.DeepEqual(s.hist, history{restarts: 1, rollbacks: 2, crashes: 3, last: last, exited: exited}) {
		t.Errorf("history comes back as %+v", s.hist)
	}
}

// TestHandoffMinReady: a new generation that signalled readiness and waits
// out --min-ready when zedr-run re-executes itself goes on waiting for the
// time left in the new process, and then takes over. Its signal does not
// come again: re-arming the ready timeout instead (as before version 4 of
// the handoff) rolled back a server that had said it was ready.
func TestHandoffMinReady(t *testing.T) {
	cfg := Config{MinReady: 10 * time.Second, ReadyTimeout: 5 * time.Second}
	m := newMachine(t, cfg)
	m.serveMinReady(1)
	m.restart("test")
	pid := m.started(2)[0]
	m.ready(pid)
	m.fx.clock = m.fx.clock.Add(2 * time.Second)
	b, err := json.Marshal(m.s.handoffGens())
	if err != nil {
		t.Fatal(err)
	}
	var gens []reexec.HandoffGen
	if err := json.Unmarshal(b, &gens); err != nil {
		t.Fatal(err)
	}

	// The re-executed zedr-run: the same processes, a new supervisor.
	next := newMachine(t, cfg)
	next.s.gens, next.s.pending, next.fx.procs, next.fx.timers = nil, nil, map[int]*fakeProc{}, nil
	next.fx.clock = m.fx.clock
	byPID := next.s.restoreGens(gens, 2)
	for p, w := range byPID {
		next.fx.procs[p] = &fakeProc{w: w, alive: true}
	}
	old := m.started(1)[0]
	next.s.slots[0] = byPID[old]
	for _, tm := range next.fx.timers {
		if te, ok := tm.ev.(timerEvent); ok && te.kind == timerReadyTimeout {
			t.Fatalf("the ready timeout was re-armed (%v) for a worker that already signalled readiness", tm.d)
		}
	}
	if d := next.fire("min-ready", isTimer(timerMinReady)); d != 8*time.Second {
		t.Errorf("--min-ready re-armed for %v, want the 8s left", d)
	}
	if got := next.servingGens(); !slices.Equal(got, []int{2}) {
		t.Errorf("after --min-ready the slots serve %v, want generation 2", got)
	}
	if sigs := next.signals(old); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
		t.Errorf("generation 1 got %v, want the stop signal once", sigs)
	}
}
