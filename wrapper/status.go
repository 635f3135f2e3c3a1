package wrapper

import (
	"os"
	"time"

	"zedr-run/socketact"
	"zedr-run/wrapper/proc"
)

// keepExited is how many exited generations a status still shows.
const keepExited = 5

// Status is a snapshot of what zedr-run is doing, as `zedr-run status`
// shows it. The supervisor loop builds it; nobody else reads its state.
type Status struct {
	PID      int       `json:"pid"`      // zedr-run's own
	Version  string    `json:"version"`  // zedr-run's
	Started  time.Time `json:"started"`  // when zedr-run started
	Command  []string  `json:"command"`  // the child's command line
	Stopping bool      `json:"stopping"` // zedr-run is shutting down

	Sockets []SocketStatus `json:"sockets"`
	// Generations: those with a process left, oldest first, then up to
	// keepExited recently exited ones, most recent first.
	Generations []GenerationStatus `json:"generations"`

	Restarts  int `json:"restarts"`  // restarts whose new generation took over
	Rollbacks int `json:"rollbacks"` // new generations killed for not becoming ready
	Crashes   int `json:"crashes"`   // serving generations that died on their own

	// LastRestart is the outcome of the most recent start of a generation
	// other than the first, or nil.
	LastRestart *RestartResult `json:"last_restart"`
	// RestartQueued says a restart waits for the one running.
	RestartQueued bool `json:"restart_queued"`
}

// SocketStatus is one socket zedr-run holds.
type SocketStatus struct {
	FD        int    `json:"fd"`
	Name      string `json:"name"` // in LISTEN_FDNAMES
	Spec      string `json:"spec"`
	Addr      string `json:"addr"`
	Inherited bool   `json:"inherited"`
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
	// Workers lists its processes with --workers (one entry without).
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
	Result string    `json:"result"` // ok, rolled back, failed to start, or empty while it runs
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

// firstStart is why the first generation starts, and crashRestart why one
// replaces crashed workers; neither counts as a restart.
const (
	firstStart   = "first start"
	crashRestart = "crash restart"
)

// statusRequest asks the loop for a snapshot.
type statusRequest struct{ reply chan<- Status }

// stopRequest asks the loop to stop everything, as SIGTERM does.
type stopRequest struct{ by string }

// history is what the supervisor remembers for Status.
type history struct {
	started   time.Time
	restarts  int
	rollbacks int
	crashes   int
	last      *RestartResult
	exited    []GenerationStatus // most recent first
}

// restartBegan records the start of generation g by a restart.
func (h *history) restartBegan(g *generation) {
	if g.why == firstStart {
		return
	}
	h.last = &RestartResult{Gen: g.n, By: g.why, Result: ResultRunning, At: g.started}
}

// restartEnded records the outcome of generation n's start.
func (h *history) restartEnded(n int, result, reason string) {
	if h.last == nil || h.last.Gen != n {
		return
	}
	h.last.Result, h.last.Reason, h.last.At = result, reason, time.Now()
}

// startFailed records a generation that could not be started at all.
func (h *history) startFailed(n int, why string, err error) {
	if why == firstStart {
		return
	}
	h.last = &RestartResult{Gen: n, By: why, Result: ResultFailed, Reason: err.Error(), At: time.Now()}
}

func (h *history) forget(g *generation) {
	st := g.view()
	st.State = exited.String()
	h.exited = append([]GenerationStatus{st}, h.exited...)
	if len(h.exited) > keepExited {
		h.exited = h.exited[:keepExited]
	}
}

// view is g as Status shows it. A generation whose workers have all been
// swept still shows the pid and exit of its last main process.
func (g *generation) view() GenerationStatus {
	st := GenerationStatus{Gen: g.n, PID: g.firstPID, State: g.state.String(), Why: g.why, Started: g.started, Exit: g.lastExit}
	if !g.readyAt.IsZero() {
		st.ReadyAfter = g.readyAt.Sub(g.started)
	}
	for _, w := range g.workers {
		ws := WorkerStatus{Worker: w.slot, PID: w.mainPID, State: w.state.String()}
		if w.mainExited {
			ws.Exit = proc.Describe(w.status)
		}
		st.Workers = append(st.Workers, ws)
	}
	if len(g.workers) > 0 {
		st.PID = g.workers[0].mainPID
		st.Exit = st.Workers[0].Exit
	}
	return st
}

// snapshot builds the Status; only the loop calls it.
func (s *supervisor) snapshot() Status {
	st := Status{
		PID:           os.Getpid(),
		Version:       s.cfg.Version,
		Started:       s.hist.started,
		Command:       s.cfg.Command,
		Stopping:      s.stopping,
		Restarts:      s.hist.restarts,
		Rollbacks:     s.hist.rollbacks,
		Crashes:       s.hist.crashes,
		RestartQueued: s.queued,
		Sockets:       []SocketStatus{},
	}
	if s.hist.last != nil {
		last := *s.hist.last
		st.LastRestart = &last
	}
	for i, sock := range s.cfg.Sockets {
		st.Sockets = append(st.Sockets, SocketStatus{
			FD: socketact.ListenFdsStart + i, Name: sock.Spec.FDName(), Spec: sock.Spec.String(),
			Addr: sock.Addr(), Inherited: sock.Inherited,
		})
	}
	for _, g := range s.gens {
		gs := g.view()
		for _, w := range s.serving() {
			gs.Current = gs.Current || w.g == g
		}
		st.Generations = append(st.Generations, gs)
	}
	st.Generations = append(st.Generations, s.hist.exited...)
	return st
}
