package wrapper

import (
	"fmt"
	"syscall"
)

// A worker starts in two steps: startWorker forks the shim (the worker is
// starting from then on, and its ready timeout runs), and the shim's report
// that it exec'd the command, or why not, arrives later as an execEvent
// from awaitExec's goroutine: the loop never waits for it. Readiness by
// delay or probe is armed only once the command runs. An exit of the shim
// that the reaper reports before that event waits for it (exitBeforeExec),
// so that a start failure is told as one, with the shim's reason.

// onExec handles the shim's report for worker w.
func (s *supervisor) onExec(ev execEvent) {
	w := ev.w
	w.execPending = false
	if ev.err == nil {
		s.execd(w.g, ev.execBegan, ev.at) // even when READY=1, handled first, made it ready
	}
	if ev.err != nil {
		s.execFailed(w, ev.err)
	} else if w.state == starting {
		s.armReadiness(w)
	}
	if w.exitBeforeExec != nil {
		status := *w.exitBeforeExec
		w.exitBeforeExec = nil
		s.onMainExit(w, status)
		s.sweep()
	}
}

// execFailed handles a worker whose command could not be exec'd as a start
// that failed: the whole generation when it serves nowhere yet (as when
// the first worker of a generation cannot be started), or a rollback that
// keeps the workers already serving (a rolling restart under way).
func (s *supervisor) execFailed(w *worker, err error) {
	g := w.g
	if g != s.pending || w.state != starting {
		// Given up already (rolled back, stopped): only to be reaped.
		s.log.Debug("start failed after the generation was given up", "gen", g.n, "worker", w.slot, "pid", w.pid, "err", err)
		return
	}
	for _, other := range g.workers {
		if s.slots[other.slot] == other {
			s.log.Error("worker failed to start", "gen", g.n, "worker", w.slot, "err", err)
			s.rollbackWith(g, fmt.Sprintf("worker %d did not start: %v", w.slot, err), errnoOf(err))
			return
		}
	}
	s.startFailed(g, err)
}

// armReadiness starts what tells that w is ready, once its command runs:
// the delay, or the first exec: probe. (notify and listen need nothing.)
func (s *supervisor) armReadiness(w *worker) {
	switch s.cfg.Ready.Kind {
	case ReadyDelay:
		if w.delayTimer == nil {
			w.delayTimer = s.after(s.cfg.Ready.Delay, timerEvent{w, timerReadyDelay})
		}
	case ReadyExec:
		if w.probePID == 0 && w.probeTimer == nil {
			s.probe(w)
		}
	}
}

// exitBeforeExec keeps the exit of a worker's shim that arrives before its
// report, for onExec; false when w's report is already in.
func (s *supervisor) exitBeforeExec(w *worker, status syscall.WaitStatus) bool {
	if !w.execPending {
		return false
	}
	w.exitBeforeExec = &status
	return true
}

// settleExecs gives up waiting for the reports still to come, as a reexec
// must before it hands the state over: a worker still waiting counts as
// exec'd (its new supervisor sees it exit if it was not), and an exit that
// waited for its report is handled now.
func (s *supervisor) settleExecs() {
	for _, g := range s.gens {
		for _, w := range g.workers {
			if w.execPending {
				w.execPending = false
				if w.exitBeforeExec != nil {
					status := *w.exitBeforeExec
					w.exitBeforeExec = nil
					s.onMainExit(w, status)
				}
			}
		}
	}
	s.sweep()
}
