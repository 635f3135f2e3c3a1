package wrapper

import (
	"strings"
	"testing"
)

// TestMachineZeroExitHint: a new generation that exits 0 before it is ready
// is rolled back, and the reason names both kinds of server that do that:
// one that daemonizes, and one that finds its fixed pid file held by the
// generation serving (the fix: ZEDR_GENERATION in the pid file's path).
func TestMachineZeroExitHint(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	done := m.restart("test")
	pid := m.started(2)[0]
	m.s.handle(execEvent{w: m.fx.procs[pid].w})
	m.exit(pid, 0)
	err := answer(t, done)
	if err == nil {
		t.Fatal("a generation that exited 0 before ready was not rolled back")
	}
	for _, want := range []string{"exited before ready: exit status 0", "daemonizes", "pid file", "$ZEDR_GENERATION"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("rollback reason %q does not say %q", err, want)
		}
	}
	// A non-zero exit is a failure of its own: no hint.
	done = m.restart("test")
	pid = m.started(3)[0]
	m.s.handle(execEvent{w: m.fx.procs[pid].w})
	m.exit(pid, 1)
	if err := answer(t, done); err == nil || strings.Contains(err.Error(), "pid file") {
		t.Errorf("exit 1 before ready: %v, want a rollback without the zero-exit hint", err)
	}
}
