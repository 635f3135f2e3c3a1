package wrapper

import "time"

// The phases of a restart, timed on the loop's clock (effects.now) so that
// where a restart's time goes can be measured (scripts/bench reads it):
//
//	trigger → fork begins → forked → execve begins → the command exec'd → ready → old told to stop → old gone
//
// The log line "restart phases" (debug level) gives, once the last worker
// the generation replaced is gone, each phase's duration in microseconds:
// queue (trigger to fork: the --check, the loop's own work), fork (the
// loop's fork of the shim, or its order to the spare shim), shim (the
// shim's start-up, or the spare's waking, until it calls execve), exec
// (the kernel's execve, shared: it tears the shim down and loads the
// command), child (the command's start-up until it is ready: the
// service's own), switch (ready to the old one told to stop), drain (the
// old one's stop: the service's own), total. With several workers each
// phase runs from the first worker's start to the first one's next step,
// and drain until the last worker replaced is gone.

// phases is when each step of a generation's start happened; zero until it did.
type phases struct {
	trigger   time.Time // the restart reached the loop (or the generation began, for a first or crash start)
	forkBegan time.Time // the first fork of the shim began
	forked    time.Time // and returned
	execBegan time.Time // the first shim said it was about to exec (zero: it did not say)
	exec      time.Time // the first shim reported the exec of the command
	ready     time.Time // the first worker became ready
	signalled time.Time // the first worker it replaced was told to stop
	gone      time.Time // the last worker it replaced is gone
	replacing int       // workers it replaced that are not gone yet
}

// restartBegan notes when a restart reached the loop, for the generation
// it is about to start (after a --check, if any).
func (s *supervisor) restartBegan() { s.restartAt = s.fx.now() }

// takeTrigger is the trigger of a generation starting now: the restart's,
// or now when it was not requested (first start, crash, rollout).
func (s *supervisor) takeTrigger() time.Time {
	t := s.restartAt
	s.restartAt = time.Time{}
	if t.IsZero() {
		t = s.fx.now()
	}
	return t
}

// forked notes a fork of a shim of g, from began to now.
func (s *supervisor) forked(g *generation, began time.Time) {
	if g.phases.forkBegan.IsZero() {
		g.phases.forkBegan, g.phases.forked = began, s.fx.now()
	}
}

// execd notes that a shim of g exec'd the command, as awaitExec read at
// (zero: now), having begun its execve at began (zero: unknown). Its event
// may come after the command's READY=1.
func (s *supervisor) execd(g *generation, began, at time.Time) {
	if at.IsZero() {
		at = s.fx.now()
	}
	if g.phases.exec.IsZero() || at.Before(g.phases.exec) {
		g.phases.exec, g.phases.execBegan = at, began
	}
}

// readied notes that a worker of g became ready.
func (s *supervisor) readied(g *generation) {
	if g.phases.ready.IsZero() {
		g.phases.ready = s.fx.now()
	}
}

// replacing notes that old is told to stop because a worker of g replaced it.
func (s *supervisor) replacing(old *worker, g *generation) {
	if old.replacedBy != nil {
		return
	}
	old.replacedBy = g
	g.phases.replacing++
	if g.phases.signalled.IsZero() {
		g.phases.signalled = s.fx.now()
	}
}

// replacedGone notes that w, which had everything of it gone, was
// replaced; when it is the last one, the restart's phases are logged.
func (s *supervisor) replacedGone(w *worker) {
	g := w.replacedBy
	if g == nil {
		return
	}
	w.replacedBy = nil
	if g.phases.replacing--; g.phases.replacing > 0 {
		return
	}
	p := &g.phases
	p.gone = s.fx.now()
	if p.forked.IsZero() || p.exec.IsZero() || p.ready.IsZero() {
		return // not a start this loop saw from its beginning (a reexec's)
	}
	us := func(from, to time.Time) int64 { return to.Sub(from).Microseconds() }
	execBegan := p.execBegan
	if execBegan.IsZero() || execBegan.Before(p.forked) || execBegan.After(p.exec) {
		execBegan = p.exec // not told: the exec counts in the shim's phase
	}
	s.log.Debug("restart phases", "gen", g.n, "why", g.why,
		"queue_us", us(p.trigger, p.forkBegan), "fork_us", us(p.forkBegan, p.forked),
		"shim_us", us(p.forked, execBegan), "exec_us", us(execBegan, p.exec), "child_us", us(p.exec, p.ready),
		"switch_us", us(p.ready, p.signalled), "drain_us", us(p.signalled, p.gone),
		"total_us", us(p.trigger, p.gone))
}
