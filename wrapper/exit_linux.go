package wrapper

import (
	"fmt"
	"syscall"
	"time"

	"zedr-run/internal/sdnotify"
	"zedr-run/wrapper/proc"
)

// What the reaper and the notify socket report: processes that exited,
// and the messages of the children's sd_notify.

// zeroExitHint follows the reason of a child that exited 0 before it was
// ready. Two kinds of server do that: one that daemonizes (forks into the
// background and its parent exits 0), and one that finds its pid file held
// by the generation still serving, takes itself for already running and
// exits 0. A config file seldom expands environment variables, hence the
// shell: the pid-file path then differs per generation.
const zeroExitHint = " (a program that daemonizes must be run in the foreground, or name its main process with MAINPID=;" +
	" a server that finds its fixed pid file held by the running generation exits this way too:" +
	" put ZEDR_GENERATION, which is in its environment, in the pid file's path," +
	` e.g. sh -c 'exec server --pid-file /run/server-$ZEDR_GENERATION.pid')`

func (s *supervisor) onExit(e exitEvent) {
	defer s.sweep()
	if s.selfTest != nil && e.PID == s.selfTest.pid {
		s.onSelfTestExit(e.Status)
		return
	}
	if s.spareExited(e) {
		return
	}
	if s.check != nil && e.PID == s.check.pid {
		s.onCheckExit(e.Status)
		return
	}
	for _, g := range s.gens {
		for _, w := range g.workers {
			switch e.PID {
			case w.probePID:
				w.probePID = 0
				if e.Status.Exited() && e.Status.ExitStatus() == 0 {
					s.onReady(w, "probe exited 0")
				} else if g == s.pending && w.state == starting {
					w.probeTimer = s.after(DefaultProbeInterval, timerEvent{w, timerProbe})
				}
				return
			case w.mainPID:
				if w.mainExited {
					// Already taken for gone by its pidfd (onMainGone)
					// before the reaper's word: keep the real status only.
					if w.statusUnknown {
						w.status, w.statusUnknown = e.Status, false
					}
					return
				}
				if !s.exitBeforeExec(w, e.Status) {
					s.onMainExit(w, e.Status)
				}
				return
			case w.pid:
				// The first process of a child that named another one its
				// main process with MAINPID=: its exit is expected.
				s.log.Debug("process exited", "gen", g.n, "pid", e.PID, "status", proc.Describe(e.Status))
				return
			}
		}
	}
	s.log.Debug("reaped orphan", "pid", e.PID, "status", proc.Describe(e.Status))
}

func (s *supervisor) onMainExit(w *worker, status syscall.WaitStatus) {
	w.mainExited = true
	w.status = status
	how := proc.Describe(status)
	if w.statusUnknown {
		how = "exited (reaped by another process: status unknown)"
	}
	w.g.lastExit = how
	stopped := w.state == draining
	switch {
	case w.state == starting:
		reason := s.who(w) + "exited before ready: " + how
		if !w.statusUnknown && status.Exited() && status.ExitStatus() == 0 {
			reason += zeroExitHint
		}
		s.rollback(w.g, reason)
	case w.state == ready:
		if s.slots[w.slot] == w {
			s.slots[w.slot] = nil
		}
		st := status
		s.lastExit = &st
		w.drain()
		s.settle(w.g)
		if s.stopping {
			break
		}
		s.hist.crashes++
		s.limit.failed = w
		s.log.Error("child crashed", append(s.attrs(w), "status", how, "ready_for", time.Since(w.readyAt).Round(time.Millisecond))...)
		s.tell(fmt.Sprintf("STATUS=generation %d worker %d crashed (%s); starting another", w.g.n, w.slot, how))
		if time.Since(w.readyAt) >= DefaultBackoffReset {
			s.backoff = DefaultBackoffMin
		}
		if s.pending == nil {
			s.scheduleBackoff()
		}
	default:
		s.log.Info("generation exited", append(s.attrs(w), "status", how)...)
	}
	s.afterMain(w, stopped)
}

// sweep forgets workers, and generations, with no process left.
func (s *supervisor) sweep() {
	live := s.gens[:0]
	for _, g := range s.gens {
		left := g.workers[:0]
		for _, w := range g.workers {
			if w.mainExited && w.probePID == 0 && !s.fx.alive(w) {
				w.exit()
				s.replacedGone(w)
				s.fx.forget(w)
				w.stopReadyTimers()
				for _, t := range []timer{w.stopTimer, w.killTimer} {
					if t != nil {
						t.Stop()
					}
				}
				continue
			}
			left = append(left, w)
		}
		g.workers = left
		if len(left) == 0 && g != s.pending {
			g.exit()
			s.hist.forget(g)
			continue
		}
		live = append(live, g)
	}
	s.gens = live
}

func (s *supervisor) exitCode() int {
	switch {
	case s.limit.hit != "":
		return s.startLimitCode()
	case s.final != nil && s.final.mainExited:
		return proc.ExitCode(s.final.status)
	case s.lastExit != nil:
		return proc.ExitCode(*s.lastExit)
	}
	return 0
}

func (s *supervisor) onNotify(m notifyMessage) {
	w := s.fx.owner(m.pid)
	if w == nil {
		s.log.Debug("notify message from a process of no generation", "pid", m.pid)
		for _, f := range m.fds {
			f.Close()
		}
		return
	}
	if m.long {
		s.log.Warn("notify message ignored: longer than a notify message may be", "gen", w.g.n, "pid", m.pid, "max_bytes", sdnotify.MaxMessage)
		return
	}
	s.onFDStore(w, m)
	g := w.g
	if st, ok := m.fields["STATUS"]; ok {
		s.log.Info("child status", "gen", g.n, "pid", m.pid, "status", st)
	}
	if v, ok := m.fields["MAINPID"]; ok {
		s.nameMain(w, m.pid, v)
	}
	if v, ok := m.fields["EXTEND_TIMEOUT_USEC"]; ok {
		s.onExtendTimeout(w, v)
	}
	if v, ok := m.fields["WATCHDOG"]; ok {
		s.onWatchdogMessage(w, v)
	}
	if m.fields["STOPPING"] == "1" {
		s.log.Info("child is stopping", "gen", g.n, "pid", m.pid)
	}
	if m.fields["READY"] == "1" && s.cfg.Ready.Kind == ReadyNotify {
		s.onReady(w, "READY=1")
	}
}
