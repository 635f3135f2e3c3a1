package reexec

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// HandoffVersion is the version of the state one zedr-run hands the next
// across `zedr-run reexec`. A binary reads the versions up to its own.
// Version 2 spells states by name where version 1 numbered them; version 3
// adds the children's fd store (FDStore); version 4 adds a starting worker's
// readiness signal while it waits out --min-ready (HandoffWorker.ReadySignal).
const HandoffVersion = 4

// HandoffEnv carries the handoff (JSON) to the exec'd binary.
const HandoffEnv = "ZEDR_HANDOFF"

// Handoff is the state one zedr-run hands the binary it execs in its place
// (`zedr-run reexec`): the descriptors it keeps open across the exec and
// the supervisor's state. zedr-run's supervisor fills it and reads it back;
// this package only encodes it (EnvEntry) and decodes it (ParseHandoff).
// Its JSON is versioned (HandoffVersion) and frozen by the golden files
// testdata/handoff-v*.json.
type Handoff struct {
	Version int       `json:"version"`
	Started time.Time `json:"started"`

	Sockets   []HandoffSocket `json:"sockets"`
	Notify    HandoffNotify   `json:"notify"`
	GuardFD   int             `json:"guard_fd"`   // the guardian's stdin (Guardian.FD)
	ControlFD int             `json:"control_fd"` // -1: none
	Control   string          `json:"control"`

	NextGen  int           `json:"next_gen"`
	Pending  int           `json:"pending"` // generation number, 0 for none
	Queued   bool          `json:"queued"`
	Backoff  time.Duration `json:"backoff"`
	LastExit *int          `json:"last_exit"` // raw wait status
	Gens     []HandoffGen  `json:"gens"`
	Hist     HandoffHist   `json:"hist"`
	Slots    []HandoffSlot `json:"slots"`
	// Cgroup is the cgroup v2 subtree of the workers, or "" for none;
	// older binaries hand none over.
	Cgroup string `json:"cgroup,omitempty"`
	// FDStore is the children's fd store, in order; versions before 3
	// hand none over.
	FDStore []HandoffStored `json:"fdstore,omitempty"`
}

// HandoffStored is one descriptor of the children's fd store, at fd FD in
// the new process.
type HandoffStored struct {
	FD   int    `json:"fd"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	Gen  int    `json:"gen"`
	Poll bool   `json:"poll"`
}

// HandoffSocket is one listening socket, at fd FD in the new process.
type HandoffSocket struct {
	FD        int    `json:"fd"`
	Spec      string `json:"spec"`
	Inherited bool   `json:"inherited"`
	Owned     bool   `json:"owned"` // zedr-run created its unix socket file
}

// HandoffNotify is zedr-run's NOTIFY_SOCKET: its fd, path and directory.
type HandoffNotify struct {
	FD   int    `json:"fd"`
	Path string `json:"path"`
	Dir  string `json:"dir"`
}

// HandoffSlot says which worker fills a worker slot (ZEDR_WORKER); the
// zero value is an empty slot.
type HandoffSlot struct {
	Gen int `json:"gen"`
	PID int `json:"pid"`
}

// HandoffGen is one generation.
type HandoffGen struct {
	N        int             `json:"n"`
	Why      string          `json:"why"`
	FirstPID int             `json:"first_pid"`
	LastExit string          `json:"last_exit"`
	State    HandoffState    `json:"state"`
	Started  time.Time       `json:"started"`
	ReadyAt  time.Time       `json:"ready_at"`
	Slots    []int           `json:"slots"`
	Next     int             `json:"next"`
	Rolling  bool            `json:"rolling"`
	Workers  []HandoffWorker `json:"workers"`
}

// HandoffWorker is one worker process of a generation.
type HandoffWorker struct {
	Slot       int          `json:"slot"`
	PID        int          `json:"pid"`
	MainPID    int          `json:"main_pid"`
	State      HandoffState `json:"state"`
	Started    time.Time    `json:"started"`
	ReadyAt    time.Time    `json:"ready_at"`
	MainExited bool         `json:"main_exited"`
	Status     int          `json:"status"` // raw wait status
	StopAt     time.Time    `json:"stop_at"`
	// ReadySignal is when a worker still waiting out --min-ready signalled
	// readiness, and ReadyHow how; zero for every other worker, and in
	// versions before 4.
	ReadySignal time.Time `json:"ready_signal,omitzero"`
	ReadyHow    string    `json:"ready_how,omitempty"`
}

// HandoffHist is what `zedr-run status` shows of the past. Last and Exited
// are the JSON of the control protocol's restart result and generation
// statuses, which the supervisor writes and reads: they are frozen by that
// protocol, and opaque here (nil encodes as null).
type HandoffHist struct {
	Restarts  int             `json:"restarts"`
	Rollbacks int             `json:"rollbacks"`
	Crashes   int             `json:"crashes"`
	Last      json.RawMessage `json:"last"`
	Exited    json.RawMessage `json:"exited"`
}

// FDs lists the descriptors the handoff names, which must stay open (not
// close-on-exec) across the exec: the sockets, the notify socket, the
// guardian's stdin, the control socket, if any, and the stored fds.
func (h *Handoff) FDs() []int {
	var fds []int
	for _, s := range h.Sockets {
		fds = append(fds, s.FD)
	}
	fds = append(fds, h.Notify.FD, h.GuardFD)
	if h.ControlFD >= 0 {
		fds = append(fds, h.ControlFD)
	}
	for _, s := range h.FDStore {
		fds = append(fds, s.FD)
	}
	return fds
}

// EnvEntry encodes the handoff, as version HandoffVersion, into the
// environment entry (HandoffEnv=JSON) that the exec'd binary reads with
// ParseHandoff.
func (h *Handoff) EnvEntry() (string, error) {
	v := *h
	v.Version = HandoffVersion
	b, err := json.Marshal(&v)
	if err != nil {
		return "", fmt.Errorf("encode the handoff: %w", err)
	}
	return HandoffEnv + "=" + string(b), nil
}

// ParseHandoff reads the handoff a previous zedr-run left in the
// environment, or returns nil, nil when this zedr-run was started normally.
// It unsets the variable, so that nothing started later sees it.
func ParseHandoff() (*Handoff, error) {
	v, ok := os.LookupEnv(HandoffEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(HandoffEnv)
	return decodeHandoff([]byte(v))
}

// decodeHandoff reads a handoff of any version this binary knows. Version
// 1 numbered the states; version 2 names them (see HandoffState); version
// 3 adds the fd store, which older ones read as empty; version 4 the
// readiness signal of a worker waiting out --min-ready, which older ones
// read as none.
func decodeHandoff(b []byte) (*Handoff, error) {
	var h Handoff
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("read the state handed over by the previous zedr-run: %w", err)
	}
	if h.Version < 1 || h.Version > HandoffVersion {
		return nil, fmt.Errorf("the previous zedr-run handed over state version %d; this binary reads 1 to %d", h.Version, HandoffVersion)
	}
	return &h, nil
}
