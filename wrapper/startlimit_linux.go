package wrapper

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"zedr-run/wrapper/proc"
)

// The start limit, as systemd's StartLimitBurst= and StartLimitIntervalSec=:
// a child that keeps crashing, or a first generation that never becomes
// ready, makes zedr-run stop everything and exit with the last child's
// status, so that an orchestrator sees the crash loop (Kubernetes'
// CrashLoopBackOff, an alert) instead of a zedr-run that retries forever.
//
// What counts is a crash restart: a generation started because nothing
// serves a slot (after a crash, or after generation 1, or its retry, failed
// before ready). A rolled-back restart never counts: the old generation still
// serves, so nothing is started in its place.

const (
	// DefaultStartLimitBurst and DefaultStartLimitInterval: 5 crash restarts
	// in 60 s, more than the crash backoff makes in 60 s only when the child
	// fails within seconds of each start (the backoff doubles from
	// DefaultBackoffMin: 5 restarts take about 3 s), while a child that
	// crashes now and then (once a minute or less) is restarted forever.
	// They are also the usual systemd values in spirit (5 in 10 s there,
	// where restarts are not backed off).
	DefaultStartLimitBurst    = 5
	DefaultStartLimitInterval = 60 * time.Second

	// NoStartLimit as Config.StartLimitBurst means restart forever.
	NoStartLimit = -1
)

// startLimit is the loop's count of crash restarts, and what it gave up
// on. Only the loop touches it.
type startLimit struct {
	burst    int           // crash restarts allowed within interval; NoStartLimit: any
	interval time.Duration // the sliding window
	restarts []time.Time   // the crash restarts of the last interval, oldest first
	began    time.Time     // when generation 1 started
	served   bool          // a generation has been ready since
	failed   *worker       // the worker that failed last (crashed, or failed before ready)
	hit      string        // why zedr-run gave up, or ""
}

func newStartLimit(cfg Config) startLimit {
	return startLimit{burst: cfg.StartLimitBurst, interval: cfg.StartLimitInterval}
}

// String is the limit as ParseStartLimit reads it.
func (l *startLimit) String() string { return FormatStartLimit(l.burst, l.interval) }

// FormatStartLimit spells a start limit as ParseStartLimit reads it:
// "5/1m0s", or "0" for none.
func FormatStartLimit(burst int, interval time.Duration) string {
	if burst == NoStartLimit {
		return "0"
	}
	return fmt.Sprintf("%d/%v", burst, interval)
}

// ParseStartLimit reads "N/DURATION" (N crash restarts allowed within
// DURATION) or "0" (no limit: NoStartLimit).
func ParseStartLimit(v string) (burst int, interval time.Duration, err error) {
	if strings.TrimSpace(v) == "0" {
		return NoStartLimit, 0, nil
	}
	n, d, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want N/DURATION (e.g. %s) or 0 for no limit", FormatStartLimit(DefaultStartLimitBurst, DefaultStartLimitInterval))
	}
	if burst, err = strconv.Atoi(strings.TrimSpace(n)); err != nil || burst < 1 {
		return 0, 0, fmt.Errorf("restarts %q: want a whole number of 1 or more", n)
	}
	if interval, err = time.ParseDuration(strings.TrimSpace(d)); err != nil || interval <= 0 {
		return 0, 0, fmt.Errorf("interval %q: want a duration more than zero (e.g. 60s)", d)
	}
	return burst, interval, nil
}

// countRestart records a crash restart started now.
func (l *startLimit) countRestart(now time.Time) {
	if l.burst != NoStartLimit {
		l.restarts = append(l.restarts, now)
	}
}

// exceeded says why one more crash restart now would go past the limit, or
// "" when it may start.
func (l *startLimit) exceeded(now time.Time) string {
	if l.burst == NoStartLimit {
		return ""
	}
	recent := l.restarts[:0]
	for _, t := range l.restarts {
		if now.Sub(t) < l.interval {
			recent = append(recent, t)
		}
	}
	l.restarts = recent
	switch {
	case len(l.restarts) >= l.burst:
		return fmt.Sprintf("%d crash restarts within %v, and the child failed again", len(l.restarts), l.interval)
	case !l.served && now.Sub(l.began) >= l.interval:
		return fmt.Sprintf("no generation became ready within %v of the first start", l.interval)
	}
	return ""
}

// startLimitHit is asked before a crash restart is scheduled: past the
// limit, zedr-run gives up (stops every generation and exits with the
// status of the worker that failed last) and it reports true.
func (s *supervisor) startLimitHit() bool {
	why := s.limit.exceeded(s.fx.now())
	if why == "" {
		return false
	}
	s.limit.hit = why
	attrs := []any{"reason", why, "limit", s.limit.String()}
	if w := s.limit.failed; w != nil {
		attrs = append(attrs, "gen", w.g.n, "pid", w.mainPID, "last_exit", w.g.lastExit)
	}
	s.log.Error("start limit reached: stopping everything and exiting", attrs...)
	s.tell("STATUS=start limit reached: " + why)
	s.shutdown("start limit reached")
	s.final = s.limit.failed
	return true
}

// startLimitCode is zedr-run's exit code once it gave up: the status of
// the worker that failed last, and never 0.
func (s *supervisor) startLimitCode() int {
	code := 0
	if w := s.limit.failed; w != nil && w.mainExited && !w.statusUnknown {
		code = proc.ExitCode(w.status)
	}
	if code == 0 {
		code = 1
	}
	return code
}
