package wrapper

import "fmt"

// state is where a generation, or one of its workers, is in its life. Its
// numbers are internal: the handoff spells the state by name
// (reexec.HandoffState, see handoffStates), so reordering the constants
// changes nothing outside this process.
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
