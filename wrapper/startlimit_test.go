package wrapper

import (
	"testing"
	"time"
)

// The start limit through the state machine, with the fake effects of
// machine_test.go: crash restarts are counted in a sliding window, a first
// generation that never becomes ready is given up, rollbacks never count.

func isBackoff(ev event) bool { _, ok := ev.(backoffEvent); return ok }

// backoffPending says whether a crash restart is scheduled.
func (m *machine) backoffPending() bool {
	for _, t := range m.fx.timers {
		if !t.stopped && isBackoff(t.ev) {
			return true
		}
	}
	return false
}

// failBeforeReady plays generation n's child: exec'd, then exit code.
func (m *machine) failBeforeReady(n, code int) {
	m.t.Helper()
	pid := m.started(n)[0]
	m.s.handle(execEvent{w: m.fx.procs[pid].w})
	m.exit(pid, code)
}

// wantGaveUp checks that zedr-run stops with the given exit code.
func (m *machine) wantGaveUp(code int) {
	m.t.Helper()
	if !m.s.stopping || m.s.limit.hit == "" {
		m.t.Fatalf("stopping=%v, start limit hit %q; want zedr-run to give up", m.s.stopping, m.s.limit.hit)
	}
	if m.backoffPending() {
		m.t.Fatal("a crash restart is still scheduled after giving up")
	}
	if len(m.s.gens) != 0 {
		m.t.Fatalf("%d generations left after giving up", len(m.s.gens))
	}
	if got := m.s.exitCode(); got != code {
		m.t.Fatalf("exit code %d, want %d (the last child's)", got, code)
	}
}

// TestStartLimitFirstNeverReady: a first child that always exits before it
// is ready is retried burst times, then zedr-run gives up with its status.
func TestStartLimitFirstNeverReady(t *testing.T) {
	m := newMachine(t, Config{StartLimitBurst: 3, StartLimitInterval: time.Minute})
	for n := 1; n <= 3; n++ {
		m.failBeforeReady(n, 7)
		m.fx.clock = m.fx.clock.Add(m.fire("backoff", isBackoff))
		if len(m.started(n+1)) != 1 {
			t.Fatalf("failure %d: generation %d not started", n, n+1)
		}
	}
	m.failBeforeReady(4, 7)
	m.wantGaveUp(7)
	if n := len(m.fx.procs); n != 4 {
		t.Errorf("%d generations started, want 4 (the first and 3 crash restarts)", n)
	}
}

// TestStartLimitZeroExitIsFailure: a child that exits 0 before ready makes
// zedr-run exit non-zero all the same.
func TestStartLimitZeroExitIsFailure(t *testing.T) {
	m := newMachine(t, Config{StartLimitBurst: 1, StartLimitInterval: time.Minute})
	m.failBeforeReady(1, 0)
	m.fire("backoff", isBackoff)
	m.failBeforeReady(2, 0)
	m.wantGaveUp(1)
}

// TestStartLimitCrashes: a child that serves and crashes is restarted burst
// times within the interval; the next crash stops zedr-run.
func TestStartLimitCrashes(t *testing.T) {
	m := newMachine(t, Config{StartLimitBurst: 3, StartLimitInterval: time.Minute})
	m.serve(1)
	for n := 1; n <= 3; n++ {
		m.exit(m.started(n)[0], 9)
		m.fx.clock = m.fx.clock.Add(m.fire("backoff", isBackoff))
		m.serve(n + 1)
	}
	m.exit(m.started(4)[0], 9)
	m.wantGaveUp(9)
}

// TestStartLimitWindow: crashes further apart than the interval allows are
// restarted forever, and so is everything with no limit.
func TestStartLimitWindow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		apart time.Duration
	}{
		{"spread out", Config{StartLimitBurst: 2, StartLimitInterval: time.Minute}, 31 * time.Second},
		{"no limit", Config{StartLimitBurst: NoStartLimit}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, tc.cfg)
			m.serve(1)
			for n := 1; n <= 20; n++ {
				m.fx.clock = m.fx.clock.Add(tc.apart)
				m.exit(m.started(n)[0], 9)
				if m.s.stopping {
					t.Fatalf("crash %d: zedr-run gave up: %s", n, m.s.limit.hit)
				}
				m.fire("backoff", isBackoff)
				m.serve(n + 1)
			}
		})
	}
}

// TestStartLimitFirstReadyWithin: a first generation that keeps failing
// (here more slowly than the burst) is given up once the interval since
// the first start has passed with nothing ever ready.
func TestStartLimitFirstReadyWithin(t *testing.T) {
	m := newMachine(t, Config{StartLimitBurst: 100, StartLimitInterval: 10 * time.Second})
	m.failBeforeReady(1, 5)
	m.fx.clock = m.fx.clock.Add(6 * time.Second)
	m.fire("backoff", isBackoff)
	m.failBeforeReady(2, 5)
	if m.s.stopping {
		t.Fatalf("gave up after 6s of a 10s interval: %s", m.s.limit.hit)
	}
	m.fx.clock = m.fx.clock.Add(6 * time.Second)
	m.fire("backoff", isBackoff)
	m.failBeforeReady(3, 6)
	m.wantGaveUp(6)
}

// TestStartLimitRollbacksNeverCount: restarts rolled back while the old
// generation serves never count, however many.
func TestStartLimitRollbacksNeverCount(t *testing.T) {
	m := newMachine(t, Config{StartLimitBurst: 1, StartLimitInterval: time.Minute})
	m.serve(1)
	for n := 2; n <= 20; n++ {
		done := m.restart("test")
		m.failBeforeReady(n, 3)
		if answer(t, done) == nil {
			t.Fatal("the broken restart succeeded")
		}
		if m.s.stopping || m.backoffPending() {
			t.Fatalf("rollback %d: stopping=%v (%s), backoff pending=%v", n-1, m.s.stopping, m.s.limit.hit, m.backoffPending())
		}
	}
	// and a crash afterwards is still allowed its one restart
	m.exit(m.started(1)[0], 9)
	if m.s.stopping {
		t.Fatalf("the first crash after rollbacks gave up: %s", m.s.limit.hit)
	}
}
