package control

import "time"

// Status is a snapshot of what zedr-run is doing, as `zedr-run status`
// shows it. The supervisor builds it; the protocol only carries it.
type Status struct {
	PID      int       `json:"pid"`      // zedr-run's own
	Version  string    `json:"version"`  // zedr-run's
	Started  time.Time `json:"started"`  // when zedr-run started
	Command  []string  `json:"command"`  // the child's command line
	Stopping bool      `json:"stopping"` // zedr-run is shutting down

	Sockets []SocketStatus `json:"sockets"`
	// FDStore lists the descriptors the children stored (FDSTORE=1), in
	// the order the next generation gets them.
	FDStore []StoredFDStatus `json:"fdstore,omitempty"`
	// Generations: those with a process left, oldest first, then a few
	// recently exited ones, most recent first.
	Generations []GenerationStatus `json:"generations"`

	Restarts  int `json:"restarts"`  // restarts whose new generation took over
	Rollbacks int `json:"rollbacks"` // new generations killed for not becoming ready
	Crashes   int `json:"crashes"`   // serving generations that died on their own
	// CheckFailures counts the --check commands that failed (or did not
	// start), each a restart refused.
	CheckFailures int `json:"check_failures,omitempty"`
	// StartLimitHit says why zedr-run gave up on a crash loop (the start
	// limit was reached and it is stopping), or "".
	StartLimitHit string `json:"start_limit_hit,omitempty"`

	// LastRestart is the outcome of the most recent start of a generation
	// other than the first, or nil.
	LastRestart *RestartResult `json:"last_restart"`
	// RestartQueued says a restart waits for the one running.
	RestartQueued bool `json:"restart_queued"`
	// LogLinesDropped counts zedr-run's own log lines dropped because its
	// output (stderr) was not read fast enough.
	LogLinesDropped uint64 `json:"log_lines_dropped,omitempty"`
}

// SocketStatus is one socket zedr-run holds.
type SocketStatus struct {
	FD        int    `json:"fd"`   // in LISTEN_FDS order; 0 for an adopted socket
	Name      string `json:"name"` // in LISTEN_FDNAMES
	Spec      string `json:"spec"`
	Addr      string `json:"addr"`
	Inherited bool   `json:"inherited"`
	// AdoptedBy is the generation whose own bind() made an adopted socket
	// (transparent mode with no --listen or --listen auto); 0 for a
	// declared one.
	AdoptedBy int `json:"adopted_by_gen,omitempty"`
}

// StoredFDStatus is one descriptor of the children's fd store.
type StoredFDStatus struct {
	FD   int    `json:"fd"`   // where the next generation gets it
	Name string `json:"name"` // FDNAME=, in LISTEN_FDNAMES
	Kind string `json:"kind"` // "tcp4 listener", "tcp6 connection", "memfd", "pipe", ...
	Gen  int    `json:"gen"`  // the generation whose process stored it
	Poll bool   `json:"poll"` // dropped when it hangs up (not FDPOLL=0)
}

// GenerationStatus is one generation of the child.
type GenerationStatus struct {
	Gen     int       `json:"gen"`
	PID     int       `json:"pid"`     // its (first worker's) main process
	State   string    `json:"state"`   // starting, ready, draining or exited
	Current bool      `json:"current"` // the one serving
	Why     string    `json:"why"`     // why it was started
	Started time.Time `json:"started"`
	// ReadyAfter is how long it took to become ready; zero if it never was.
	ReadyAfter time.Duration `json:"ready_after_ns"`
	// Exit says how its main process ended ("exit status 0", "killed by
	// SIGKILL"); empty while it runs.
	Exit string `json:"exit,omitempty"`
	// Workers lists its processes with several workers (one entry without).
	Workers []WorkerStatus `json:"workers,omitempty"`
}

// WorkerStatus is one worker process of a generation.
type WorkerStatus struct {
	Worker int    `json:"worker"` // ZEDR_WORKER
	PID    int    `json:"pid"`
	State  string `json:"state"`
	Exit   string `json:"exit,omitempty"`
}

// RestartResult is how a restart ended.
type RestartResult struct {
	Gen    int       `json:"gen"`    // the generation it started
	By     string    `json:"by"`     // who asked: "signal SIGUSR2", "control ...", "crash restart"
	Result string    `json:"result"` // one of the Result constants
	Reason string    `json:"reason"` // why it did not succeed
	At     time.Time `json:"at"`     // when it was decided, or started while it runs
}

// The results a RestartResult can hold.
const (
	ResultRunning    = "running"
	ResultOK         = "ok"
	ResultRolledBack = "rolled back"
	ResultFailed     = "failed to start"
	ResultCancelled  = "cancelled" // zedr-run began to stop first
)

// Serving says a ready generation serves and zedr-run is not stopping:
// what `zedr-run status` exits 0 for and /readyz answers 200 for.
func (st *Status) Serving() bool {
	if st == nil || st.Stopping {
		return false
	}
	for _, g := range st.Generations {
		if g.Current {
			return true
		}
	}
	return false
}
