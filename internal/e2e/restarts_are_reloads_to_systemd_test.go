package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Guarantee: Restarts are reloads to systemd (Type=notify-reload).

func monotonicUsec() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}

// TestRestartIsNotifyReload runs zedr-run as a Type=notify-reload service
// with ReloadSignal=SIGUSR2: systemd's side is a NOTIFY_SOCKET read here.
// Each SIGUSR2 gets RELOADING=1 with a MONOTONIC_USEC= not before the
// signal (systemd's condition to take it as the answer to its signal), then
// READY=1: when the new generation took over; when --check refused it, with
// ERRNO=EINVAL; when it exited before ready, with ERRNO=ESRCH (and STATUS=
// saying what serves and what failed). The next success clears ERRNO=.
func TestRestartIsNotifyReload(t *testing.T) {
	dir := t.TempDir()
	mgr := newManagerSocket(t)
	app := filepath.Join(dir, "app")
	writeScript(t, app, "exec "+bin("testserver")+" -notify")
	check := filepath.Join(dir, "check")
	writeScript(t, check, "exit 0")
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--check", check, "--no-watch", "--", app)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+mgr.path)
	z := startCmd(t, cmd, true)
	if _, ok := mgr.next("READY").fields["RELOADING"]; ok {
		t.Error("the first start sent RELOADING=1")
	}

	reload := func(step string) managerMessage {
		t.Helper()
		before := monotonicUsec()
		z.signal(syscall.SIGUSR2)
		began := mgr.next("RELOADING")
		after := monotonicUsec()
		us, err := strconv.ParseInt(began.fields["MONOTONIC_USEC"], 10, 64)
		if err != nil || us < before || us > after {
			t.Errorf("%s: MONOTONIC_USEC=%q, want CLOCK_MONOTONIC µs between the signal (%d) and its receipt (%d)", step, began.fields["MONOTONIC_USEC"], before, after)
		}
		t.Logf("%s: RELOADING=1 MONOTONIC_USEC=%d, %d µs after the signal", step, us, us-before)
		end := mgr.next("READY")
		t.Logf("%s: READY=1 STATUS=%q ERRNO=%q", step, end.fields["STATUS"], end.fields["ERRNO"])
		return end
	}

	if end := reload("success"); end.fields["ERRNO"] != "" || !strings.HasPrefix(end.fields["STATUS"], "serving: generation 2") {
		t.Errorf("a restart that took over ended with %v", end.fields)
	}

	writeScript(t, check, "echo bad config; exit 1")
	end := reload("check refused")
	if end.fields["ERRNO"] != strconv.Itoa(int(unix.EINVAL)) || !strings.Contains(end.fields["STATUS"], "serving: generation 2; no restart: check") {
		t.Errorf("a restart --check refused ended with %v, want ERRNO=%d and a STATUS= saying so", end.fields, unix.EINVAL)
	}

	writeScript(t, check, "exit 0")
	writeScript(t, app, "exit 3")
	end = reload("rolled back")
	if end.fields["ERRNO"] != strconv.Itoa(int(unix.ESRCH)) || !strings.Contains(end.fields["STATUS"], "serving: generation 2; generation 3 rolled back") {
		t.Errorf("a rolled back restart ended with %v, want ERRNO=%d and a STATUS= saying so", end.fields, unix.ESRCH)
	}

	writeScript(t, app, "exec "+bin("testserver")+" -notify")
	if end := reload("success again"); end.fields["ERRNO"] != "0" || !strings.HasPrefix(end.fields["STATUS"], "serving: generation 4") {
		t.Errorf("a success after a failure ended with %v, want ERRNO=0", end.fields)
	}

	z.signal(syscall.SIGTERM)
	mgr.next("STOPPING")
	z.wait()
}
