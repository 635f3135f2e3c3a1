package wrapper

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
)

// restartLogged starts a restart of a serving generation with the debug
// log captured in logs: old is the serving generation's pid, pid the new
// one's.
func restartLogged(t *testing.T) (m *machine, logs *bytes.Buffer, old, pid int) {
	t.Helper()
	m = newMachine(t, Config{})
	logs = new(bytes.Buffer)
	m.s.log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m.serve(1)
	old = m.started(1)[0]
	m.restart("test")
	return m, logs, old, m.started(2)[0]
}

// TestMachinePhases: once the generation a restart started has replaced
// the old one and the old one is gone, one debug line times each phase of
// the restart on the loop's clock.
func TestMachinePhases(t *testing.T) {
	m, logs, old, pid := restartLogged(t)
	execBegan := m.fx.clock.Add(2 * time.Millisecond)
	m.fx.clock = m.fx.clock.Add(3 * time.Millisecond)
	m.s.handle(execEvent{w: m.fx.procs[pid].w, execBegan: execBegan})
	m.fx.clock = m.fx.clock.Add(10 * time.Millisecond)
	m.s.handle(notifyMessage{pid: pid, fields: map[string]string{"READY": "1"}})
	if strings.Contains(logs.String(), "restart phases") {
		t.Fatalf("phases logged before the old generation is gone:\n%s", logs.String())
	}
	m.fx.clock = m.fx.clock.Add(50 * time.Millisecond)
	m.exit(old, 0)
	want := `msg="restart phases" gen=2 why=test queue_us=0 fork_us=0 shim_us=2000 exec_us=1000 child_us=10000 switch_us=0 drain_us=50000 total_us=63000`
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("no line %q in:\n%s", want, logs.String())
	}
	// The first start replaced nothing: no phases for it.
	if n := strings.Count(logs.String(), "restart phases"); n != 1 {
		t.Errorf("%d phase lines, want 1", n)
	}
}

// TestMachinePhasesReadyBeforeExec: the command's READY=1 may be handled
// before the shim's report, which was read earlier on its own goroutine:
// the phases still come, with the exec when it was read; a shim that did
// not say when its execve began has it counted in the shim's phase.
func TestMachinePhasesReadyBeforeExec(t *testing.T) {
	m, logs, old, pid := restartLogged(t)
	execAt := m.fx.clock.Add(2 * time.Millisecond)
	m.fx.clock = m.fx.clock.Add(5 * time.Millisecond)
	m.s.handle(notifyMessage{pid: pid, fields: map[string]string{"READY": "1"}})
	m.s.handle(execEvent{w: m.fx.procs[pid].w, at: execAt})
	m.exit(old, 0)
	want := `shim_us=2000 exec_us=0 child_us=3000 switch_us=0 drain_us=0 total_us=5000`
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("no line with %q in:\n%s", want, logs.String())
	}
}

// TestReadStatus: the shim's report on its channel: end of file alone is an
// exec; reexec.ExecMessage before it tells when the execve began; any
// other message is why the exec failed, with or without the message before.
func TestReadStatus(t *testing.T) {
	for _, c := range []struct {
		msgs    []string
		began   bool
		wantErr string
	}{
		{nil, false, ""},
		{[]string{reexec.ExecMessage}, true, ""},
		{[]string{"exec /bin/x: permission denied"}, false, "exec /bin/x: permission denied"},
		{[]string{reexec.ExecMessage, "exec /bin/x: no such file or directory"}, true, "exec /bin/x: no such file or directory"},
	} {
		status, theirs, err := statusChannel()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range c.msgs {
			if _, err := unix.Write(theirs, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		unix.Close(theirs)
		status.SetReadDeadline(time.Now().Add(10 * time.Second))
		began, err := readStatus(status)
		status.Close()
		if got := err != nil && err.Error() == c.wantErr || err == nil && c.wantErr == ""; !got {
			t.Errorf("%q: err %v, want %q", c.msgs, err, c.wantErr)
		}
		if began.IsZero() == c.began {
			t.Errorf("%q: exec began at %v, want it known: %v", c.msgs, began, c.began)
		}
	}
}
