package reexec

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden handoff of the current version")

// wantStates are the generation and worker states in both golden handoffs.
var wantStates = map[int][]HandoffState{2: {StateReady, StateReady, StateDraining}, 3: {StateStarting, StateStarting}, 1: {StateExited}}

// TestHandoffGolden: a handoff written by an older zedr-run still reads,
// with every state where it was, and the current version's encoding does
// not change unnoticed (run with -update after a deliberate change, and
// bump HandoffVersion).
func TestHandoffGolden(t *testing.T) {
	cur := goldenHandoff()
	b, err := json.MarshalIndent(cur, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *updateGolden {
		if err := os.WriteFile(fmt.Sprintf("testdata/handoff-v%d.json", HandoffVersion), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range []string{"testdata/handoff-v1.json", "testdata/handoff-v2.json", "testdata/handoff-v3.json", "testdata/handoff-v4.json"} {
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
			got := []HandoffState{g.State}
			for _, w := range g.Workers {
				got = append(got, w.State)
			}
			if want := wantStates[g.N]; !equalStates(got, want) {
				t.Errorf("%s: generation %d states %v, want %v", file, g.N, got, want)
			}
		}
	}
	for file, want := range map[string]int{"testdata/handoff-v2.json": 0, "testdata/handoff-v3.json": 2, "testdata/handoff-v4.json": 2} {
		old, _ := os.ReadFile(file)
		h, err := decodeHandoff(old)
		if err != nil || len(h.FDStore) != want {
			t.Errorf("%s: fd store %+v, %v; want %d entries", file, h.FDStore, err, want)
		} else if want > 0 && (h.FDStore[0].Name != "counter" || h.FDStore[1].FD != 9 || h.FDStore[1].Poll != true || h.FDStore[1].Gen != 2) {
			t.Errorf("%s: fd store %+v", file, h.FDStore)
		}
	}
	for file, want := range map[string]string{"testdata/handoff-v3.json": "", "testdata/handoff-v4.json": "READY=1"} {
		old, _ := os.ReadFile(file)
		h, err := decodeHandoff(old)
		if err != nil {
			t.Fatal(err)
		}
		w := h.Gens[1].Workers[0]
		if w.ReadyHow != want || w.ReadySignal.IsZero() != (want == "") {
			t.Errorf("%s: starting worker's readiness signal %q at %v, want %q", file, w.ReadyHow, w.ReadySignal, want)
		}
	}
	old, err := os.ReadFile(fmt.Sprintf("testdata/handoff-v%d.json", HandoffVersion))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, old) {
		t.Errorf("the handoff's encoding changed: a zedr-run of version %d could misread it. Bump HandoffVersion, keep reading the old form, and run go test -run TestHandoffGolden -update. Now:\n%s", HandoffVersion, b)
	}
}

// TestHandoffBadState: a state nobody knows is an error, not a guess.
func TestHandoffBadState(t *testing.T) {
	for _, bad := range []string{`"sleeping"`, `7`, `-1`, `true`} {
		var s HandoffState
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("state %s read as %q", bad, s)
		}
	}
	if b, err := json.Marshal(HandoffState("sleeping")); err == nil {
		t.Errorf("state sleeping written as %s", b)
	}
}

func equalStates(a, b []HandoffState) bool {
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
	h := &Handoff{Version: HandoffVersion, Started: at("2026-11-20T10:00:00Z"),
		Sockets: []HandoffSocket{{FD: 3, Spec: "tcp:127.0.0.1:8080"}},
		GuardFD: 6, ControlFD: 7, Control: "/run/zedr-run/100.sock",
		NextGen: 4, Pending: 3, Queued: true, Backoff: 100 * time.Millisecond,
		Hist:    HandoffHist{Restarts: 1},
		Slots:   []HandoffSlot{{Gen: 2, PID: 201}, {Gen: 2, PID: 202}},
		FDStore: []HandoffStored{{FD: 8, Name: "counter", Kind: "memfd", Gen: 1}, {FD: 9, Name: "conn", Kind: "tcp4 connection", Gen: 2, Poll: true}},
	}
	h.Notify.FD, h.Notify.Path, h.Notify.Dir = 5, "/tmp/zedr-run-1/notify", "/tmp/zedr-run-1"
	h.Gens = []HandoffGen{
		{N: 2, Why: "signal SIGUSR2", FirstPID: 201, State: StateReady, Started: at("2026-11-20T10:01:00Z"), ReadyAt: at("2026-11-20T10:01:01Z"), Slots: []int{0, 1}, Next: 2,
			Workers: []HandoffWorker{
				{Slot: 0, PID: 201, MainPID: 201, State: StateReady, Started: at("2026-11-20T10:01:00Z"), ReadyAt: at("2026-11-20T10:01:01Z")},
				{Slot: 1, PID: 202, MainPID: 250, State: StateDraining, Started: at("2026-11-20T10:01:00Z"), ReadyAt: at("2026-11-20T10:01:01Z"), StopAt: at("2026-11-20T10:05:00Z")},
			}},
		{N: 3, Why: "queued restart", FirstPID: 301, State: StateStarting, Started: at("2026-11-20T10:04:00Z"), Slots: []int{0, 1}, Next: 1, Rolling: true,
			Workers: []HandoffWorker{{Slot: 0, PID: 301, MainPID: 301, State: StateStarting, Started: at("2026-11-20T10:04:00Z"),
				ReadySignal: at("2026-11-20T10:04:02Z"), ReadyHow: "READY=1"}}},
		{N: 1, Why: "first start", FirstPID: 101, LastExit: "exit status 0", State: StateExited, Started: at("2026-11-20T10:00:00Z"), ReadyAt: at("2026-11-20T10:00:01Z"), Slots: []int{0, 1}, Next: 2,
			Workers: []HandoffWorker{}},
	}
	return h
}

// TestHandoffEnv: what EnvEntry writes, ParseHandoff reads, once: the
// variable is gone afterwards. Without it, there is no handoff.
func TestHandoffEnv(t *testing.T) {
	h := goldenHandoff()
	h.Version = 0 // EnvEntry writes the current version whatever it is given
	h.Hist.Last = json.RawMessage(`{"gen":3,"by":"signal SIGUSR2"}`)
	kv, err := h.EnvEntry()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := strings.CutPrefix(kv, HandoffEnv+"=")
	if !ok {
		t.Fatalf("EnvEntry() = %.40q..., want %s=...", kv, HandoffEnv)
	}
	t.Setenv(HandoffEnv, v)
	got, err := ParseHandoff()
	if err != nil {
		t.Fatal(err)
	}
	if _, still := os.LookupEnv(HandoffEnv); still {
		t.Errorf("%s still set after ParseHandoff", HandoffEnv)
	}
	want := goldenHandoff()
	want.Hist.Last = h.Hist.Last
	want.Hist.Exited = json.RawMessage("null")
	for _, x := range []*Handoff{got, want} {
		x.Started, x.Gens = x.Started.UTC(), nil // time zones and states are TestHandoffGolden's
	}
	if g, w := fmt.Sprintf("%+v", *got), fmt.Sprintf("%+v", *want); g != w {
		t.Errorf("read back\n%s\nwant\n%s", g, w)
	}
	if h, err := ParseHandoff(); h != nil || err != nil {
		t.Errorf("ParseHandoff() without %s = %v, %v; want nil, nil", HandoffEnv, h, err)
	}
}

// TestHandoffVersions: a version this binary does not know is refused.
func TestHandoffVersions(t *testing.T) {
	for _, v := range []int{0, HandoffVersion + 1} {
		if _, err := decodeHandoff(fmt.Appendf(nil, `{"version":%d}`, v)); err == nil {
			t.Errorf("version %d read", v)
		}
	}
	if _, err := decodeHandoff([]byte(`{"version":`)); err == nil {
		t.Error("truncated handoff read")
	}
}

// TestHandoffFDs: every descriptor the handoff names stays open.
func TestHandoffFDs(t *testing.T) {
	h := goldenHandoff()
	if got := h.FDs(); !equalInts(got, []int{3, 5, 6, 7, 8, 9}) {
		t.Errorf("FDs() = %v, want [3 5 6 7 8 9]", got)
	}
	h.ControlFD = -1
	if got := h.FDs(); !equalInts(got, []int{3, 5, 6, 8, 9}) {
		t.Errorf("without control socket: FDs() = %v, want [3 5 6 8 9]", got)
	}
}

func equalInts(a, b []int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }
