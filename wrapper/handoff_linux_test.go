package wrapper

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"zedr-run/reexec"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden handoff of the current version")

// wantStates are the generation and worker states in both golden handoffs.
var wantStates = map[int][]state{2: {ready, ready, draining}, 3: {starting, starting}, 1: {exited}}

// TestHandoffGolden: a handoff written by an older zedr-run still reads,
// with every state where it was, and the current version's encoding does
// not change unnoticed (run with -update after a deliberate change, and
// bump reexec.HandoffVersion).
func TestHandoffGolden(t *testing.T) {
	cur := goldenHandoff()
	b, err := json.MarshalIndent(cur, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *updateGolden {
		if err := os.WriteFile("testdata/handoff-v2.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range []string{"testdata/handoff-v1.json", "testdata/handoff-v2.json"} {
		old, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		h, err := decodeHandoff(old)
		if err != nil {
			t.Fatalf("%s no longer reads: %v", file, err)
		}
		if h.NextGen != 4 || h.Pending != 3 || !h.Queued || len(h.Gens) != 3 {
			t.Errorf("%s: next_gen=%d pending=%d queued=%v gens=%d, want 4, 3, true, 3", file, h.NextGen, h.Pending, h.Queued, len(h.Gens))
		}
		for _, g := range h.Gens {
			got := []state{g.State}
			for _, w := range g.Workers {
				got = append(got, w.State)
			}
			if want := wantStates[g.N]; !equalStates(got, want) {
				t.Errorf("%s: generation %d states %v, want %v", file, g.N, got, want)
			}
		}
	}
	old, err := os.ReadFile("testdata/handoff-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, old) {
		t.Errorf("the handoff's encoding changed: a zedr-run of version %d could misread it. Bump reexec.HandoffVersion, keep reading the old form, and run go test -run TestHandoffGolden -update. Now:\n%s", reexec.HandoffVersion, b)
	}
}

// TestHandoffBadState: a state nobody knows is an error, not a guess.
func TestHandoffBadState(t *testing.T) {
	for _, bad := range []string{`"sleeping"`, `7`, `-1`, `true`} {
		var s state
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("state %s read as %v", bad, s)
		}
	}
}

func equalStates(a, b []state) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// goldenHandoff is the handoff of handoff-v1.json, as this version writes it.
func goldenHandoff() *Handoff {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	h := &Handoff{Version: reexec.HandoffVersion, Started: at("2026-11-20T10:00:00Z"),
		Sockets: []HandoffSocket{{FD: 3, Spec: "tcp:127.0.0.1:8080"}},
		GuardFD: 6, ControlFD: 7, Control: "/run/zedr-run/100.sock",
		NextGen: 4, Pending: 3, Queued: true, Backoff: 100 * time.Millisecond,
		Hist:  handoffHist{Restarts: 1},
		Slots: []handoffSlotRef{{Gen: 2, PID: 201}, {Gen: 2, PID: 202}},
	}
	h.Notify.FD, h.Notify.Path, h.Notify.Dir = 5, "/tmp/zedr-run-1/notify", "/tmp/zedr-run-1"
	h.Gens = []handoffGen{
		{N: 2, Why: "signal SIGUSR2", FirstPID: 201, State: ready, Started: at("2026-11-20T10:01:00Z"), ReadyAt: at("2026-11-20T10:01:01Z"), Slots: []int{0, 1}, Next: 2,
			Workers: []handoffWorker{
				{Slot: 0, PID: 201, MainPID: 201, State: ready, Started: at("2026-11-20T10:01:00Z"), ReadyAt: at("2026-11-20T10:01:01Z")},
				{Slot: 1, PID: 202, MainPID: 250, State: draining, Started: at("2026-11-20T10:01:00Z"), ReadyAt: at("2026-11-20T10:01:01Z"), StopAt: at("2026-11-20T10:05:00Z")},
			}},
		{N: 3, Why: "queued restart", FirstPID: 301, State: starting, Started: at("2026-11-20T10:04:00Z"), Slots: []int{0, 1}, Next: 1, Rolling: true,
			Workers: []handoffWorker{{Slot: 0, PID: 301, MainPID: 301, State: starting, Started: at("2026-11-20T10:04:00Z")}}},
		{N: 1, Why: "first start", FirstPID: 101, LastExit: "exit status 0", State: exited, Started: at("2026-11-20T10:00:00Z"), ReadyAt: at("2026-11-20T10:00:01Z"), Slots: []int{0, 1}, Next: 2,
			Workers: []handoffWorker{}},
	}
	return h
}
