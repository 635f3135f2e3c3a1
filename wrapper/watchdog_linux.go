package wrapper

import (
	"fmt"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// The children's watchdog (--watchdog, systemd's WatchdogSec=): each child
// gets WATCHDOG_USEC (and, from the shim, WATCHDOG_PID: its own pid, as
// the command is exec'd in the shim's place). A worker that serves (ready,
// in its slot) and sends no WATCHDOG=1 within Config.Watchdog, or sends
// WATCHDOG=trigger, is hung. Unlike systemd, which stops a hung service
// and then starts it again, zedr-run starts a replacement for the hung
// worker's slot first, the way a restart does, and sends the hung one
// Config.WatchdogSignal (SIGABRT, for a core dump, as systemd) only once
// the replacement is ready (and up --min-ready): a zero-downtime restart.
//
// Only a message from a process of the worker's own generation counts (the
// owner rule of MAINPID= and FDSTORE=1, onNotify); each worker is its own
// watchdog. The watchdog runs only while a worker serves: a starting one
// is bounded by the ready timeout instead.
//
// One thing starts at a time: a worker that hangs while a generation that
// fills its slot is starting waits for that one; while another is starting
// (another slot's, a --check), its own replacement starts once that is
// done (replaceWaitingHung, from afterFailure).
//
// A hung worker whose replacement fails (rolled back, or not started) keeps
// its slot and serves on as well as it can: it may be only slow (a long
// pause, a stuck request on one thread), its sockets' queue keeps the
// clients' connections meanwhile, and killing it would leave nothing
// serving, the downtime zedr-run exists to avoid. The watchdog stays armed,
// so a replacement is tried again each Config.Watchdog for as long as the
// worker stays hung; these retries are not crashes and do not count
// against the start limit or the crash backoff. A hung worker that sends
// WATCHDOG=1 again is no longer hung: the replacement already started
// goes on, and it is stopped with the ordinary stop signal.

// DefaultWatchdogSignal is what a hung child gets once its replacement
// serves: SIGABRT, as systemd's WatchdogSignal=, so that the hung process
// leaves a core dump to tell why it hung.
const DefaultWatchdogSignal = syscall.SIGABRT

// watchdogWhy is why a generation that replaces a hung worker started.
const watchdogWhy = "watchdog"

// watchdogSignal is the Config's watchdog signal, or its default.
func (c *Config) watchdogSignal() syscall.Signal {
	if c.WatchdogSignal == 0 {
		return DefaultWatchdogSignal
	}
	return c.WatchdogSignal
}

// watchdogEnv is what the children's environment gets for the watchdog:
// WATCHDOG_USEC, or nothing without one. The shim adds WATCHDOG_PID.
func (s *supervisor) watchdogEnv() []string {
	if s.cfg.Watchdog <= 0 {
		return nil
	}
	return []string{"WATCHDOG_USEC=" + strconv.FormatInt(s.cfg.Watchdog.Microseconds(), 10)}
}

// stopSignalFor is the signal that stops w: the watchdog signal if w is
// hung, the stop signal otherwise.
func (s *supervisor) stopSignalFor(w *worker) syscall.Signal {
	if w.hung {
		return s.cfg.watchdogSignal()
	}
	return s.cfg.StopSignal
}

// armWatchdog starts w's watchdog from now, as w begins to serve.
func (s *supervisor) armWatchdog(w *worker) {
	if s.cfg.Watchdog <= 0 {
		return
	}
	w.pingAt = s.fx.now()
	if w.watchdogTimer != nil {
		w.watchdogTimer.Stop()
	}
	w.watchdogTimer = s.after(s.cfg.Watchdog, timerEvent{w, timerWatchdog})
}

// armWatchdogs starts the watchdog of every serving worker (after a
// reexec, which hands over no watchdog state: each gets a full interval).
func (s *supervisor) armWatchdogs() {
	for _, w := range s.serving() {
		s.armWatchdog(w)
	}
}

// onWatchdogMessage handles a WATCHDOG= value sent by a process of w.
// One timer runs per worker: a ping only moves pingAt, and the timer, when
// it fires, waits again for what is left of the interval.
func (s *supervisor) onWatchdogMessage(w *worker, v string) {
	if s.cfg.Watchdog <= 0 || w.state != ready {
		return
	}
	switch v {
	case "1":
		w.pingAt, w.watchdogBy = s.fx.now(), time.Time{}
		if w.hung {
			w.hung = false
			s.log.Warn("watchdog: the hung worker answers again; its replacement goes on", s.attrs(w)...)
		}
	case "trigger":
		// At most one a watchdog interval: a child that sends WATCHDOG=1
		// and WATCHDOG=trigger in turn would otherwise have a replacement
		// that fails started again at once, in a loop, where a hung
		// worker's retries wait an interval.
		now := s.fx.now()
		if !w.triggeredAt.IsZero() && now.Sub(w.triggeredAt) < s.cfg.Watchdog {
			s.log.Debug("WATCHDOG=trigger ignored: one a watchdog interval", s.attrs(w)...)
			return
		}
		w.triggeredAt = now
		s.onWatchdog(w, "WATCHDOG=trigger")
	}
}

// onWatchdogTimer: w's watchdog interval has passed since it was armed.
func (s *supervisor) onWatchdogTimer(w *worker) {
	w.watchdogTimer = nil
	if w.state != ready || s.slots[w.slot] != w {
		return
	}
	now := s.fx.now()
	if idle := now.Sub(w.pingAt); idle < s.cfg.Watchdog {
		w.watchdogTimer = s.after(s.cfg.Watchdog-idle, timerEvent{w, timerWatchdog})
		return
	}
	if now.Before(w.watchdogBy) { // EXTEND_TIMEOUT_USEC (extend_linux.go)
		w.watchdogTimer = s.after(w.watchdogBy.Sub(now), timerEvent{w, timerWatchdog})
		return
	}
	s.onWatchdog(w, "no WATCHDOG=1 within "+s.cfg.Watchdog.String())
}

// onWatchdog: w, which serves, is hung. Its replacement starts (or is
// already on its way); the watchdog is armed again, for a retry should the
// replacement fail.
func (s *supervisor) onWatchdog(w *worker, why string) {
	if s.stopping || w.state != ready || s.slots[w.slot] != w {
		return
	}
	again := w.hung
	w.hung = true
	w.pingAt = s.fx.now()
	if w.watchdogTimer != nil {
		w.watchdogTimer.Stop()
	}
	w.watchdogTimer = s.after(s.cfg.Watchdog, timerEvent{w, timerWatchdog})
	attrs := append(s.attrs(w), "why", why, "signal_once_replaced", signame(s.cfg.watchdogSignal()))
	if again {
		s.log.Error("watchdog: worker still hung, replacing it again", attrs...)
	} else {
		s.log.Error("watchdog: worker hung, replacing it", attrs...)
	}
	s.tell(fmt.Sprintf("STATUS=generation %d worker %d hung (%s); starting its replacement", w.g.n, w.slot, why))
	switch g := s.pending; {
	case g != nil && slices.Contains(g.slots, w.slot):
		s.log.Info("watchdog: the generation starting replaces the hung worker", append(s.attrs(w), "starting", g.n)...)
	case g != nil || s.check != nil:
		// One thing starts at a time: its replacement starts after.
		w.hungWaits = true
		s.log.Info("watchdog: the hung worker is replaced once the restart in progress is done", s.attrs(w)...)
	default:
		s.startSlots(watchdogWhy, nil, []int{w.slot})
	}
}

// replaceWaitingHung starts the replacement of the hung workers that waited
// for another restart to end (afterFailure), for their slots only, and
// says whether it started one. A replacement that failed is not retried
// here but by the watchdog's next interval, so that a failing replacement
// never loops.
func (s *supervisor) replaceWaitingHung() bool {
	if s.pending != nil || s.check != nil {
		return false
	}
	var slots []int
	for _, w := range s.serving() {
		if w.hungWaits && w.hung {
			slots = append(slots, w.slot)
		}
		w.hungWaits = false
	}
	if len(slots) == 0 {
		return false
	}
	s.startSlots(watchdogWhy, nil, slots) // one that cannot start is retried by the watchdog
	return true
}

// stopWatchdog stops w's watchdog timer, once w no longer serves.
func (w *worker) stopWatchdog() {
	if w.watchdogTimer != nil {
		w.watchdogTimer.Stop()
		w.watchdogTimer = nil
	}
}
