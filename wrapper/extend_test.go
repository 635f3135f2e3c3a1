package wrapper

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The state machine with EXTEND_TIMEOUT_USEC: a child's word that it needs
// longer postpones its ready timeout or its stop timeout.

// clockNow sets the fake clock to the real time, which the workers' start
// and stop times are taken from.
func (m *machine) clockNow() time.Time {
	m.fx.clock = time.Now()
	return m.fx.clock
}

// timer returns the pending timer of kind for w.
func (m *machine) timer(w *worker, kind timerKind) *fakeTimer {
	m.t.Helper()
	for _, t := range m.fx.timers {
		if te, ok := t.ev.(timerEvent); ok && !t.stopped && te.w == w && te.kind == kind {
			return t
		}
	}
	m.t.Fatalf("no pending timer %d for worker pid=%d", kind, w.pid)
	return nil
}

// TestMachineExtendReadyTimeout: EXTEND_TIMEOUT_USEC from a starting child
// moves its ready timeout to that long from now; the timeout already due
// is stale, and the generation is rolled back only at the new deadline.
func TestMachineExtendReadyTimeout(t *testing.T) {
	m := newMachine(t, Config{ReadyTimeout: time.Minute})
	m.serve(1)
	old := m.started(1)[0]
	t0 := m.clockNow()
	done := m.restart("test")
	pid := m.started(2)[0]
	w := m.fx.procs[pid].w
	m.s.handle(execEvent{w: w})

	m.fx.clock = t0.Add(50 * time.Second)
	m.notify(pid, "EXTEND_TIMEOUT_USEC", "5000000") // 55s: before the minute, no change
	if d := m.timer(w, timerReadyTimeout).d; d != time.Minute {
		t.Fatalf("an extension short of the timeout re-armed it for %v", d)
	}
	m.notify(pid, "EXTEND_TIMEOUT_USEC", "30000000")
	if d := m.timer(w, timerReadyTimeout).d; d != 30*time.Second {
		t.Fatalf("ready timeout re-armed for %v, want 30s from now", d)
	}
	m.fx.clock = t0.Add(61 * time.Second)
	m.s.handle(timerEvent{w, timerReadyTimeout}) // the old timer, fired before it was stopped
	noAnswer(t, done)
	m.fx.clock = t0.Add(80 * time.Second)
	m.fire("ready timeout", isTimer(timerReadyTimeout))
	err := answer(t, done)
	if err == nil || !strings.Contains(err.Error(), "not ready after 1m20s") {
		t.Fatalf("restart: %v, want a rollback not ready after 1m20s", err)
	}
	if sigs := m.signals(old); len(sigs) != 0 {
		t.Fatalf("the serving generation got %v", sigs)
	}
}

// TestMachineExtendStopTimeout: EXTEND_TIMEOUT_USEC from a draining child
// postpones its SIGKILL.
func TestMachineExtendStopTimeout(t *testing.T) {
	m := newMachine(t, Config{StopTimeout: 10 * time.Second})
	m.serve(1)
	pid := m.started(1)[0]
	w := m.fx.procs[pid].w
	t0 := m.clockNow()
	m.s.shutdown("test")
	m.fx.clock = t0.Add(5 * time.Second)
	m.notify(pid, "EXTEND_TIMEOUT_USEC", "20000000")
	if d := m.timer(w, timerStop).d; d != 20*time.Second {
		t.Fatalf("stop timeout re-armed for %v, want 20s from now", d)
	}
	m.fx.clock = t0.Add(11 * time.Second)
	m.s.handle(timerEvent{w, timerStop}) // the old timer, fired before it was stopped
	if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("signals %v at the old stop timeout, want SIGTERM alone", sigs)
	}
	m.fx.clock = t0.Add(25 * time.Second)
	m.fire("stop timeout", isTimer(timerStop))
	if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}) {
		t.Fatalf("signals %v, want SIGTERM then SIGKILL at the extended timeout", sigs)
	}
}

// TestMachineExtendOwner: only a process of the worker's generation
// extends its timeout, and nonsense is ignored.
func TestMachineExtendOwner(t *testing.T) {
	m := newMachine(t, Config{ReadyTimeout: time.Minute})
	m.serve(1)
	m.clockNow()
	m.restart("test")
	pid := m.started(2)[0]
	w := m.fx.procs[pid].w
	m.s.handle(execEvent{w: w})
	m.notify(4242, "EXTEND_TIMEOUT_USEC", "600000000")
	m.notify(m.started(1)[0], "EXTEND_TIMEOUT_USEC", "600000000") // the serving generation's
	for _, v := range []string{"", "soon", "-5", "0", "99999999999999999999999"} {
		m.notify(pid, "EXTEND_TIMEOUT_USEC", v)
	}
	if d := m.timer(w, timerReadyTimeout).d; d != time.Minute {
		t.Fatalf("ready timeout re-armed for %v by a stranger or nonsense", d)
	}
	m.notify(pid, "EXTEND_TIMEOUT_USEC", "18446744073709551615") // the largest: bounded, no overflow
	if d := m.timer(w, timerReadyTimeout).d; d != maxExtend {
		t.Fatalf("the largest extension gave %v, want maxExtend", d)
	}
}

// TestMachineExtendPassedOn: the extensions that one of the unit's
// timeouts waits on go on to zedr-run's own service manager: the first
// generation's (TimeoutStartSec=), a restart's announced with RELOADING=1
// (systemd's reload waits with TimeoutStartSec=), a draining child's once
// zedr-run stops (TimeoutStopSec=); not a crash restart's with nothing
// serving, which the running unit never heard of.
func TestMachineExtendPassedOn(t *testing.T) {
	o := newOuterManager(t)
	m := newMachine(t, Config{OuterNotify: o.path})
	defer m.s.outer.Close()
	m.clockNow()
	extendReady := func(pid int, usec string) {
		m.s.handle(execEvent{w: m.fx.procs[pid].w})
		m.notify(pid, "EXTEND_TIMEOUT_USEC", usec)
		m.notify(pid, "READY", "1")
	}
	extendReady(m.started(1)[0], "90000000")
	m.restart("test")
	extendReady(m.started(2)[0], "80000000")
	m.exit(m.started(2)[0], 1) // a crash: nothing serves
	m.fire("backoff", func(ev event) bool { _, ok := ev.(backoffEvent); return ok })
	extendReady(m.started(3)[0], "60000000")
	m.s.shutdown("test")
	m.notify(m.started(3)[0], "EXTEND_TIMEOUT_USEC", "70000000")

	got := o.extensionsUntil("EXTEND_TIMEOUT_USEC=70000000")
	if want := []string{"EXTEND_TIMEOUT_USEC=90000000", "EXTEND_TIMEOUT_USEC=80000000", "EXTEND_TIMEOUT_USEC=70000000"}; !slices.Equal(got, want) {
		t.Errorf("passed on %q, want %q", got, want)
	}
}

// TestMachineExtendWatchdog: a serving child's EXTEND_TIMEOUT_USEC
// postpones its watchdog, as systemd's, until its next WATCHDOG=1.
func TestMachineExtendWatchdog(t *testing.T) {
	m := newMachine(t, Config{Watchdog: 2 * time.Second})
	m.serve(1)
	pid := m.started(1)[0]
	t0 := m.fx.clock
	m.fx.clock = t0.Add(time.Second)
	m.notify(pid, "EXTEND_TIMEOUT_USEC", "10000000") // until t0+11s
	m.fx.clock = t0.Add(2 * time.Second)
	m.fire("watchdog", isWatchdog)
	if d := m.timer(m.fx.procs[pid].w, timerWatchdog).d; d != 9*time.Second || len(m.started(2)) != 0 {
		t.Fatalf("watchdog re-armed for %v (%d replacements), want 9s more and none", d, len(m.started(2)))
	}
	m.fx.clock = t0.Add(11 * time.Second)
	m.fire("watchdog", isWatchdog)
	if len(m.started(2)) != 1 {
		t.Fatal("the extended watchdog did not fire at the end of the extension")
	}
}

// TestMachineExtendCrashReplacementNotPassedOn: the replacement of one
// crashed worker while the others serve is no reload (no RELOADING=1), so
// its EXTEND_TIMEOUT_USEC is not passed on: the running unit would apply it
// to RuntimeMaxSec=.
func TestMachineExtendCrashReplacementNotPassedOn(t *testing.T) {
	o := newOuterManager(t)
	m := newMachine(t, Config{OuterNotify: o.path, Workers: 2})
	defer m.s.outer.Close()
	m.clockNow()
	m.serve(1)
	m.exit(m.started(1)[0], 1)
	m.fire("backoff", func(ev event) bool { _, ok := ev.(backoffEvent); return ok })
	pid := m.started(2)[0]
	m.s.handle(execEvent{w: m.fx.procs[pid].w})
	m.notify(pid, "EXTEND_TIMEOUT_USEC", "50000000")
	m.notify(pid, "READY", "1")
	m.s.shutdown("test")
	m.notify(pid, "EXTEND_TIMEOUT_USEC", "70000000")

	got := o.extensionsUntil("EXTEND_TIMEOUT_USEC=70000000")
	if want := []string{"EXTEND_TIMEOUT_USEC=70000000"}; !slices.Equal(got, want) {
		t.Errorf("passed on %q, want %q", got, want)
	}
}

// extensionsUntil returns the EXTEND_TIMEOUT_USEC= messages sent, up to
// and including last.
func (o *outerManager) extensionsUntil(last string) []string {
	o.t.Helper()
	var got []string
	err := o.until(func(msg string) bool {
		if strings.HasPrefix(msg, "EXTEND_TIMEOUT_USEC=") {
			got = append(got, msg)
		}
		return msg == last
	})
	if err != nil {
		o.t.Fatalf("reading the service manager's socket: %v (got %q)", err, got)
	}
	return got
}
