package wrapper

import (
	"os"
	"time"

	"zedr-run/socketact"
	"zedr-run/wrapper/control"
	"zedr-run/wrapper/proc"
)

// keepExited is how many exited generations a status still shows.
const keepExited = 5

// firstStart is why the first generation starts, and crashRestart why one
// replaces crashed workers; neither counts as a restart.
const (
	firstStart   = "first start"
	crashRestart = "crash restart"
)

// history is what the supervisor remembers for Status.
type history struct {
	started   time.Time
	restarts  int
	rollbacks int
	crashes   int
	checkFail int // --check commands that failed or did not start
	last      *control.RestartResult
	exited    []control.GenerationStatus // most recent first
}

// restartBegan records the start of generation g by a restart.
func (h *history) restartBegan(g *generation) {
	if g.why == firstStart {
		return
	}
	h.last = &control.RestartResult{Gen: g.n, By: g.why, Result: control.ResultRunning, At: g.started}
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
	h.last = &control.RestartResult{Gen: n, By: why, Result: control.ResultFailed, Reason: err.Error(), At: time.Now()}
}

func (h *history) forget(g *generation) {
	st := g.view()
	st.State = exited.String()
	h.exited = append([]control.GenerationStatus{st}, h.exited...)
	if len(h.exited) > keepExited {
		h.exited = h.exited[:keepExited]
	}
}

// view is g as Status shows it. A generation whose workers have all been
// swept still shows the pid and exit of its last main process.
func (g *generation) view() control.GenerationStatus {
	st := control.GenerationStatus{Gen: g.n, PID: g.firstPID, State: g.state.String(), Why: g.why, Started: g.started, Exit: g.lastExit}
	if !g.readyAt.IsZero() {
		st.ReadyAfter = g.readyAt.Sub(g.started)
	}
	for _, w := range g.workers {
		ws := control.WorkerStatus{Worker: w.slot, PID: w.mainPID, State: w.state.String()}
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
func (s *supervisor) snapshot() control.Status {
	st := control.Status{
		PID:           os.Getpid(),
		Version:       s.cfg.Version,
		Started:       s.hist.started,
		Command:       s.cfg.Command,
		Stopping:      s.stopping,
		Restarts:      s.hist.restarts,
		Rollbacks:     s.hist.rollbacks,
		Crashes:       s.hist.crashes,
		CheckFailures: s.hist.checkFail,
		StartLimitHit: s.limit.hit,
		RestartQueued: s.queued,
		Sockets:       []control.SocketStatus{},
	}
	if s.cfg.LogDropped != nil {
		st.LogLinesDropped = s.cfg.LogDropped()
	}
	if s.hist.last != nil {
		last := *s.hist.last
		st.LastRestart = &last
	}
	for i, sock := range s.cfg.Sockets {
		st.Sockets = append(st.Sockets, control.SocketStatus{
			FD: socketact.ListenFdsStart + i, Name: sock.Spec.FDName(), Spec: sock.Spec.String(),
			Addr: sock.Addr(), Inherited: sock.Inherited,
		})
	}
	st.Sockets = append(st.Sockets, s.adoptedStatus()...)
	for _, g := range s.gens {
		gs := g.view()
		for _, w := range s.serving() {
			gs.Current = gs.Current || w.g == g
		}
		st.Generations = append(st.Generations, gs)
	}
	st.Generations = append(st.Generations, s.hist.exited...)
	st.FDStore = s.storeView()
	return st
}
