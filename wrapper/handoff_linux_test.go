package wrapper

import (
	"encoding/json"
	"testing"

	"zedr-run/reexec"
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
