package reexec

import (
	"encoding/json"
	"fmt"
)

// HandoffState is where a generation, or one of its workers, is in its
// life, spelled by name in the handoff. The supervisor maps its own states
// to these and back, so reordering its constants changes nothing outside
// its process.
type HandoffState string

// The states a handoff knows.
const (
	StateStarting HandoffState = "starting" // started, not yet ready
	StateReady    HandoffState = "ready"    // serving
	StateDraining HandoffState = "draining" // being stopped
	StateExited   HandoffState = "exited"   // main process and whole process group gone
)

// handoffStates are the states this binary knows by name.
var handoffStates = [...]HandoffState{StateStarting, StateReady, StateDraining, StateExited}

// handoffV1States is how version 1 of the handoff numbered the states. It
// is frozen: it reads what binaries of that version wrote.
var handoffV1States = [...]HandoffState{StateStarting, StateReady, StateDraining, StateExited}

// MarshalText spells s by name; a state this binary does not know is an
// error, so that no handoff carries one.
func (s HandoffState) MarshalText() ([]byte, error) {
	for _, st := range handoffStates {
		if s == st {
			return []byte(s), nil
		}
	}
	return nil, fmt.Errorf("unknown state %q", string(s))
}

// UnmarshalJSON reads a state by name, or as the number version 1 of the
// handoff wrote. A state it does not know is an error, not a guess.
func (s *HandoffState) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		for _, st := range handoffStates {
			if string(st) == name {
				*s = st
				return nil
			}
		}
		return fmt.Errorf("unknown state %q", name)
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil || n < 0 || n >= len(handoffV1States) {
		return fmt.Errorf("unknown state %s", b)
	}
	*s = handoffV1States[n]
	return nil
}
