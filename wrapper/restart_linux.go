package wrapper

import (
	"fmt"
	"syscall"
	"time"

	"zedr-run/wrapper/control"
)

// A restart: requested, coalesced, started, ready (the old generation is
// then stopped) or rolled back; and the crash backoff.

// requestRestart starts a new generation now, or queues one behind the one
// starting: at most one restart runs and one waits.
func (s *supervisor) requestRestart(req Request) {
	if s.stopping {
		if req.Done != nil {
			req.Done <- ErrStopping
		}
		return
	}
	s.log.Info("restart requested", "by", req.Source)
	if s.pending != nil || s.check != nil {
		s.queued = true
		if req.Done != nil {
			s.queuedWaiters = append(s.queuedWaiters, req.Done)
		}
		return
	}
	if s.backoffTimer != nil {
		s.backoffTimer.Stop()
		s.backoffTimer = nil
	}
	var waiters []chan<- error
	if req.Done != nil {
		waiters = append(waiters, req.Done)
	}
	s.beginRestart(req.Source, waiters)
}

// beginRestart runs the --check command first, if there is one, and
// otherwise starts the next generation now.
func (s *supervisor) beginRestart(why string, waiters []chan<- error) {
	s.restartBegan()
	if s.cfg.Check != "" {
		s.startCheck(why, waiters)
		return
	}
	s.startWith(why, waiters)
}

// start starts a generation with no one waiting for it.
func (s *supervisor) start(why string) error {
	if why == firstStart {
		s.limit.began = s.fx.now()
	}
	return s.startWith(why, nil)
}

// startWith starts the next generation, for every worker slot, as the
// pending one. If it cannot start, the waiters hear why and, when a slot is
// left empty, a retry is scheduled.
func (s *supervisor) startWith(why string, waiters []chan<- error) error {
	all := make([]int, s.cfg.Workers)
	for i := range all {
		all[i] = i
	}
	return s.startSlots(why, waiters, all)
}

// afterFailure runs after a start failed or a starting generation was
// rolled back: run the restart that was queued, if any, or else, with a
// slot empty (nothing serving, with one worker), try again after a backoff.
func (s *supervisor) afterFailure() {
	if s.stopping {
		return
	}
	if s.queued {
		s.runQueued()
		return
	}
	if s.replaceWaitingHung() {
		return
	}
	if len(s.emptySlots()) > 0 {
		s.scheduleBackoff()
	}
}

func (s *supervisor) runQueued() {
	if !s.queued || s.stopping {
		return
	}
	s.queued = false
	waiters := s.queuedWaiters
	s.queuedWaiters = nil
	s.beginRestart("queued restart", waiters)
}

func (s *supervisor) scheduleBackoff() {
	if s.backoffTimer != nil || s.startLimitHit() {
		return
	}
	d := s.backoff
	s.backoff = min(2*s.backoff, DefaultBackoffMax)
	if len(s.serving()) == 0 {
		s.log.Warn("nothing serving: starting again after backoff", "backoff", d)
	} else {
		s.log.Warn("replacing crashed workers after backoff", "backoff", d, "workers", s.emptySlots())
	}
	s.backoffTimer = s.after(d, backoffEvent{})
}

// onReady records that a worker of the pending generation is ready. In a
// rolling start it takes over its slot at once and the next worker starts
// in its place (so at most Surge are starting);
// otherwise the generation takes over every slot once all its workers are
// ready. Either way the old workers are stopped as they are replaced.
func (s *supervisor) onReady(w *worker, how string) {
	g := w.g
	if g != s.pending || w.state != starting || s.awaitMinReady(w, how) {
		return
	}
	s.dropReadiness(w)
	w.becomeReady()
	s.armWatchdog(w)
	s.readied(g)
	if !s.rolloutDone(g) {
		s.log.Info("worker ready", "gen", g.n, "worker", w.slot, "pid", w.mainPID, "after", w.readyAt.Sub(w.started).Round(time.Millisecond), "how", how)
		if g.rolling {
			s.install(w)
			s.startNext(g)
		}
		return
	}
	g.becomeReady()
	s.observeReady(g)
	s.pending = nil
	s.limit.served = true
	attrs := []any{"gen", g.n, "pid", g.pid(), "after", g.readyAt.Sub(g.started).Round(time.Millisecond).String(), "how", how}
	if s.cfg.Workers > 1 {
		attrs = append(attrs, "workers", len(g.workers), "pids", pids(g.workers))
	}
	s.log.Info("generation ready", attrs...)
	for _, w := range g.workers {
		s.install(w)
	}
	if g.why != firstStart && g.why != crashRestart {
		s.hist.restarts++
	}
	s.hist.restartEnded(g.n, control.ResultOK, "")
	s.ready(fmt.Sprintf("serving: generation %d pid=%d", g.n, g.pid()))
	g.answer(nil)
	s.afterFailure()
}

// rollback kills the workers of the pending generation that are not ready.
// Whatever serves goes on serving: in a rolling start, that is the new
// workers already in their slots and the old ones of every other slot.
func (s *supervisor) rollback(g *generation, reason string) {
	s.rollbackWith(g, reason, errnoExited)
}

// rollbackWith is rollback, telling the service manager errno as the
// failure's ERRNO=.
func (s *supervisor) rollbackWith(g *generation, reason string, errno syscall.Errno) {
	if g != s.pending {
		return
	}
	s.pending = nil
	pid := 0
	var kept []int
	for _, w := range g.workers {
		switch {
		case w.state == starting:
			if pid == 0 {
				pid = w.pid
				s.limit.failed = w
			}
			s.giveUp(w, reason)
		case w.state == ready && s.slots[w.slot] == w:
			kept = append(kept, w.slot)
		}
	}
	err := fmt.Errorf("generation %d rolled back: %s", g.n, reason)
	s.hist.rollbacks++
	s.hist.restartEnded(g.n, control.ResultRolledBack, reason)
	if serving := s.serving(); len(serving) > 0 {
		s.log.Error("generation rolled back", "gen", g.n, "pid", pid, "reason", reason, "serving", serving[0].g.n)
		s.reloadFailed(fmt.Sprintf("serving: generation %d; generation %d rolled back: %s", serving[0].g.n, g.n, reason), errno)
	} else {
		s.log.Error("generation failed before ready", "gen", g.n, "pid", pid, "reason", reason)
		s.reloadFailed(fmt.Sprintf("generation %d failed before ready: %s", g.n, reason), errno)
	}
	g.rollBack(len(kept) > 0)
	if len(kept) > 0 {
		s.log.Error("rollout stopped: the workers already replaced keep serving, the others keep their old generation",
			"gen", g.n, "new_workers", kept, "slots", s.slotGens())
		err = fmt.Errorf("generation %d rolled back: %s; rollout stopped: workers %v run generation %d, the others their old generation", g.n, reason, kept, g.n)
	}
	g.answer(err)
	s.afterFailure()
}
