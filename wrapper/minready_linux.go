package wrapper

import (
	"time"
)

// --min-ready (Kubernetes' minReadySeconds): a worker that signalled
// readiness must stay up MinReady before it counts as ready, so that a
// server that fails in a set-up step after its readiness signal (a config
// file read after opening its sockets) is rolled back while the old
// generation still serves: the old one is told to stop only once the new
// one has stayed up that long. Dying within it is a rollback like dying
// before readiness (onMainExit in state starting).

// DefaultMinReadyListen is --min-ready's default for --ready listen.
// listen() is often not the last step of a server's start: many open their
// sockets first and only then read their configuration, open log files and
// drop privileges, and a broken deployment fails there, within milliseconds
// of listen() (11 ms in the case that made this default). Half a second
// catches that with a wide margin on a loaded machine and adds little to a
// restart; it is half of DefaultReadiness's second, which plays the same
// role for servers that say nothing.
const DefaultMinReadyListen = 500 * time.Millisecond

// NoMinReady in Config.MinReady turns --min-ready off, also where the
// readiness kind has a default.
const NoMinReady time.Duration = -1

// DefaultMinReady is --min-ready's default for a readiness kind: 0 but for
// listen. notify and exec: are the server's own word (or a probe's) that
// it serves, after its set-up; delay:D is itself a time it must stay up.
func DefaultMinReady(kind string) time.Duration {
	if kind == ReadyListen {
		return DefaultMinReadyListen
	}
	return 0
}

// minReady is the MinReady in force.
func (c *Config) minReady() time.Duration {
	switch {
	case c.MinReady < 0:
		return 0
	case c.MinReady == 0:
		return DefaultMinReady(c.Ready.Kind)
	}
	return c.MinReady
}

// awaitMinReady is called with w's readiness signal: true while w must
// still stay up --min-ready before it counts as ready (the timer then runs:
// the ready timeout's job is done, --min-ready bounds the rest); false once
// it has, or when there is no --min-ready.
func (s *supervisor) awaitMinReady(w *worker, how string) bool {
	d := s.cfg.minReady()
	if d <= 0 || w.minReadyDone {
		return false
	}
	if w.minReadyTimer == nil {
		s.dropReadiness(w)
		w.readyHow, w.readySignal = how, s.fx.now()
		w.minReadyTimer = s.after(d, timerEvent{w, timerMinReady})
		s.log.Info("ready signal: waiting for --min-ready", append(s.attrs(w), "how", how, "min_ready", d)...)
	}
	return true
}

// rearmMinReady sets the --min-ready timer of a worker handed over by the
// zedr-run before a reexec while it waited out --min-ready: its readiness
// signal came then and comes no more, so the wait goes on for the time left
// rather than the ready timeout running out on a server that said it was
// ready. It returns false for a worker that was not in that wait.
func (s *supervisor) rearmMinReady(w *worker) bool {
	if w.readySignal.IsZero() {
		return false
	}
	left := s.cfg.minReady() - s.fx.now().Sub(w.readySignal)
	w.minReadyTimer = s.after(max(0, left), timerEvent{w, timerMinReady})
	return true
}

// onMinReady: w stayed up --min-ready after its readiness signal.
func (s *supervisor) onMinReady(w *worker) {
	w.minReadyTimer = nil
	if w.g != s.pending || w.state != starting {
		return
	}
	w.minReadyDone = true
	s.onReady(w, w.readyHow+", then up for "+s.cfg.minReady().String())
}

// giveUp ends w, a worker of a generation rolled back before it was ready.
// One that may hold the shared sockets (LISTEN_FDS, a bind in transparent
// mode) may have accepted connections: it is stopped gracefully, with the
// stop signal and --stop-timeout, so that they are answered. Any other is
// killed at once (abort).
func (s *supervisor) giveUp(w *worker, why string) {
	if !w.execPending && s.fx.holdsSockets(w) {
		s.stopWorker(w, "rolled back: "+why)
		return
	}
	s.abort(w)
}

// afterMain deals with what is left of w once its main process has exited
// (its process group, its cgroup, the processes that left them holding the
// sockets). When zedr-run had told w to stop (stopped), it is systemd's
// KillMode=mixed: the stop signal went to the main process only, and what
// is left, such as the handlers a fork-per-connection server started for
// the requests in flight, gets the rest of --stop-timeout to finish on its
// own; the stop timer then SIGKILLs it. When the main process exited on its
// own (a crash, a start that failed), nobody told the rest to stop: it gets
// the stop signal now, and --stop-timeout.
func (s *supervisor) afterMain(w *worker, stopped bool) {
	if !s.fx.alive(w) {
		return
	}
	if stopped {
		s.log.Debug("main process exited: what is left has the rest of the stop timeout", s.attrs(w)...)
	} else {
		s.fx.signalLeft(w, s.cfg.StopSignal)
	}
	s.armStopTimer(w)
}
