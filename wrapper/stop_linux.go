package wrapper

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/wrapper/control"
)

// Stopping: a generation or a worker asked to stop, the stop timeout, the
// kill, and zedr-run's own shutdown.

// stop asks every worker of g to stop and arms the kill of its group.
func (s *supervisor) stop(g *generation, why string) {
	if g == s.pending {
		s.pending = nil
		g.answer(ErrStopping)
		s.hist.restartEnded(g.n, control.ResultCancelled, ErrStopping.Error())
	}
	for _, w := range g.workers {
		s.stopWorker(w, why)
	}
	g.drain()
}

// stopWorker asks w's main process to stop and arms the kill of its group.
func (s *supervisor) stopWorker(w *worker, why string) {
	if w.state == draining || w.state == exited {
		return
	}
	if s.slots[w.slot] == w {
		s.slots[w.slot] = nil
	}
	if w.state == starting {
		s.dropReadiness(w)
	}
	w.stopWatchdog()
	w.drain()
	s.settle(w.g)
	msg := "stopping generation"
	if s.cfg.Workers > 1 {
		msg = "stopping worker"
	}
	sig := s.stopSignalFor(w)
	if w.hung {
		why += " (hung: watchdog signal)"
	}
	s.log.Info(msg, append(s.attrs(w), "signal", signame(sig), "why", why, "timeout", s.cfg.StopTimeout)...)
	if err := s.fx.signalMain(w, sig); err != nil && !w.mainExited {
		s.log.Warn("stop signal", append(s.attrs(w), "err", err)...)
	}
	s.armStopTimer(w)
}

func (s *supervisor) armStopTimer(w *worker) {
	if w.stopTimer == nil {
		w.stopAt = time.Now().Add(s.cfg.StopTimeout)
		w.stopTimer = s.after(s.cfg.StopTimeout, timerEvent{w, timerStop})
	}
}

// shutdown stops zedr-run: from now on it starts nothing, and every
// generation is asked to stop.
func (s *supervisor) shutdown(why string) {
	s.beginShutdown(why)
	s.stopAll(why)
}

// beginShutdown makes zedr-run stopping (status says so, the service
// manager hears STOPPING=1, nothing new starts) without touching the
// generations, which go on serving until stopAll.
func (s *supervisor) beginShutdown(why string) {
	s.stopping = true
	s.closeSpare()
	s.log.Info("stopping", "why", why)
	s.tell("STOPPING=1", "STATUS=stopping: "+why)
	if s.backoffTimer != nil {
		s.backoffTimer.Stop()
		s.backoffTimer = nil
	}
	for _, w := range s.queuedWaiters {
		w <- ErrStopping
	}
	s.queuedWaiters, s.queued = nil, false
	s.stopCheck()
}

// stopAll asks every generation to stop; the current child's status
// becomes zedr-run's exit code.
func (s *supervisor) stopAll(why string) {
	if serving := s.serving(); len(serving) > 0 {
		s.final = serving[0]
	} else if s.pending != nil && len(s.pending.workers) > 0 {
		s.final = s.pending.workers[0]
	}
	for _, g := range s.gens {
		s.stop(g, why)
	}
}

func (s *supervisor) onTimer(ev timerEvent) {
	w := ev.w
	if s.extendedPast(ev) {
		return
	}
	switch ev.kind {
	case timerReadyDelay:
		s.onReady(w, "alive for "+s.cfg.Ready.Delay.String())
	case timerReadyTimeout:
		if w.g == s.pending && w.state == starting {
			s.rollbackWith(w.g, fmt.Sprintf("%snot ready after %v (readiness: %s)", s.who(w), s.readyWaited(w), s.cfg.Ready), errnoNotReady)
		}
	case timerProbe:
		w.probeTimer = nil
		if w.g == s.pending && w.state == starting {
			s.probe(w)
		}
	case timerStop:
		if w.state != exited && (s.fx.alive(w) || s.fx.mainAlive(w)) {
			attrs := []any{"gen", w.g.n}
			if s.cfg.Workers > 1 {
				attrs = append(attrs, "worker", w.slot)
			}
			s.log.Warn("stop timeout: killing the process group", append(attrs, "pgid", w.pid, "pid", w.mainPID, "timeout", s.cfg.StopTimeout)...)
			s.kill(w)
		}
		if w.state != exited {
			w.killTimer = s.after(killGrace, timerEvent{w, timerKilled})
		}
	case timerKilled:
		w.killTimer = nil
		s.afterKill(w)
	case timerMinReady:
		s.onMinReady(w)
	case timerWatchdog:
		s.onWatchdogTimer(w)
	}
}

func (s *supervisor) probe(w *worker) {
	pid, err := s.startProbe(w)
	if err != nil {
		s.log.Warn("readiness probe did not start", "gen", w.g.n, "pid", w.mainPID, "err", err)
		w.probeTimer = s.after(DefaultProbeInterval, timerEvent{w, timerProbe})
		return
	}
	w.probePID = pid
}

func (s *supervisor) killProbe(w *worker) {
	if w.probePID != 0 {
		unix.Kill(-w.probePID, unix.SIGKILL)
	}
}

// dropReadiness stops what would tell that w is ready: its timers and a
// running exec: probe.
func (s *supervisor) dropReadiness(w *worker) {
	w.stopReadyTimers()
	s.killProbe(w)
}

// abort ends w, which never served or is given up (a rollback, a start
// that failed): no graceful stop, everything of it is killed at once.
func (s *supervisor) abort(w *worker) {
	s.dropReadiness(w)
	w.drain()
	s.kill(w)
}

// kill SIGKILLs whatever is left of w (see signalLeft) and its main
// process.
func (s *supervisor) kill(w *worker) {
	s.fx.signalLeft(w, unix.SIGKILL)
	if !w.mainExited {
		s.fx.signalMain(w, unix.SIGKILL)
	}
}

// afterKill looks at w killGrace after its stop timeout killed it. A main
// process that is gone although the reaper never reported it (another
// process of the generation reaped it) counts as exited, so that w is
// forgotten instead of draining forever; anything still alive is killed
// again.
func (s *supervisor) afterKill(w *worker) {
	if w.state == exited {
		return
	}
	if !w.mainExited && !s.fx.mainAlive(w) {
		w.statusUnknown = true
		s.onMainExit(w, 0)
	}
	if s.fx.alive(w) || s.fx.mainAlive(w) {
		s.kill(w)
		w.killTimer = s.after(killGrace, timerEvent{w, timerKilled})
	}
	s.sweep()
}
