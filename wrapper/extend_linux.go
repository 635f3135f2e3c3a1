package wrapper

import (
	"strconv"
	"time"
)

// EXTEND_TIMEOUT_USEC=N (sd_notify(3)): a child that needs longer than it
// is given says so, as under systemd. From a process of a starting worker
// it postpones the ready timeout to N from now; from a draining one, the
// stop timeout (the kill of what is left); from a serving one, its watchdog
// (until its next WATCHDOG=1, as systemd's). A timeout is never shortened:
// the new deadline is the later of the old one and now+N, and the child
// must send it again before N runs out to go on.
//
// zedr-run passes the extension on to its own service manager while one of
// the unit's timeouts waits for the child: for the first generation, before
// zedr-run itself has said READY=1 (TimeoutStartSec=); for a restart that
// zedr-run announced with RELOADING=1 (s.reloading),
// where systemd's reload waits for READY=1 with TimeoutStartSec= too; and
// for a draining worker once zedr-run is stopping (TimeoutStopSec=). Not for
// a crash restart with nothing serving, which zedr-run's unit, running,
// never heard of: there the message would extend RuntimeMaxSec=.

// maxExtend bounds one extension, so that a child's number cannot
// overflow a time.Duration; it is still a timeout of centuries, as systemd
// allows.
const maxExtend = time.Duration(1<<63 - 1)

// onExtendTimeout handles EXTEND_TIMEOUT_USEC=v from a process of w.
func (s *supervisor) onExtendTimeout(w *worker, v string) {
	usec, err := strconv.ParseUint(v, 10, 64)
	if err != nil || usec == 0 {
		s.log.Debug("EXTEND_TIMEOUT_USEC ignored: want a number of microseconds", append(s.attrs(w), "value", v)...)
		return
	}
	d := maxExtend
	if usec < uint64(maxExtend/time.Microsecond) {
		d = time.Duration(usec) * time.Microsecond
	}
	now := s.fx.now()
	switch {
	case w.g == s.pending && w.state == starting && w.readyTimer != nil:
		if by := now.Add(d); by.After(s.readyBy(w)) {
			w.readyBy = by
			w.readyTimer.Stop()
			w.readyTimer = s.after(d, timerEvent{w, timerReadyTimeout})
			s.log.Info("ready timeout extended", append(s.attrs(w), "by", "EXTEND_TIMEOUT_USEC", "from_now", d)...)
		}
		if w.g.why == firstStart || s.reloading {
			s.tell("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(d.Microseconds(), 10))
		}
	case w.state == ready && w.watchdogTimer != nil:
		if by := now.Add(d); by.After(w.pingAt.Add(s.cfg.Watchdog)) && by.After(w.watchdogBy) {
			w.watchdogBy = by
			s.log.Debug("watchdog extended", append(s.attrs(w), "by", "EXTEND_TIMEOUT_USEC", "from_now", d)...)
		}
	case w.state == draining && w.stopTimer != nil:
		if by := now.Add(d); by.After(w.stopAt) {
			w.stopAt, w.stopExtended = by, true
			w.stopTimer.Stop()
			w.stopTimer = s.after(d, timerEvent{w, timerStop})
			s.log.Info("stop timeout extended", append(s.attrs(w), "by", "EXTEND_TIMEOUT_USEC", "from_now", d)...)
		}
		if s.stopping {
			s.tell("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(d.Microseconds(), 10))
		}
	}
}

// readyBy is when w's ready timeout fires.
func (s *supervisor) readyBy(w *worker) time.Time {
	if !w.readyBy.IsZero() {
		return w.readyBy
	}
	return w.started.Add(s.cfg.ReadyTimeout)
}

// readyWaited is how long w was given to become ready: --ready-timeout,
// or more when it extended it.
func (s *supervisor) readyWaited(w *worker) time.Duration {
	if w.readyBy.IsZero() {
		return s.cfg.ReadyTimeout
	}
	return w.readyBy.Sub(w.started).Round(time.Millisecond)
}

// extendedPast says that ev is a ready or stop timeout whose deadline an
// extension moved on after its timer had already fired: the event is
// stale, and the new timer will come.
func (s *supervisor) extendedPast(ev timerEvent) bool {
	now := s.fx.now()
	switch ev.kind {
	case timerReadyTimeout:
		return !ev.w.readyBy.IsZero() && now.Before(ev.w.readyBy)
	case timerStop:
		return ev.w.stopExtended && now.Before(ev.w.stopAt)
	}
	return false
}
