package wrapper

import (
	"encoding/json"
	"fmt"
)

// state is where a generation, or one of its workers, is in its life. Its
// numbers are internal: whatever is persisted or handed over spells the
// state by name (MarshalText), so reordering the constants changes nothing
// outside this process.
type state int

const (
	starting state = iota // started, not yet ready
	ready                 // serving
	draining              // told to stop, or its main process is gone and its group is being stopped
	exited                // main process and whole process group gone
)

var stateNames = map[state]string{starting: "starting", ready: "ready", draining: "draining", exited: "exited"}

func (s state) String() string {
	if name, ok := stateNames[s]; ok {
		return name
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// MarshalText spells s by name.
func (s state) MarshalText() ([]byte, error) {
	if name, ok := stateNames[s]; ok {
		return []byte(name), nil
	}
	return nil, fmt.Errorf("unknown state %d", int(s))
}

// handoffV1States is how version 1 of the handoff numbered the states. It
// is frozen: it reads what binaries of that version wrote.
var handoffV1States = [...]state{starting, ready, draining, exited}

// UnmarshalJSON reads a state by name, or as the number version 1 of the
// handoff wrote.
func (s *state) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		for st, n := range stateNames {
			if n == name {
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
