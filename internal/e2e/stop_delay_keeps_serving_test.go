package e2e

import (
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// Guarantee: A stop delay keeps serving after SIGTERM while probes already fail (--stop-delay).

// statusCode runs `zedr-run status` against ctl and returns its exit code.
func statusCode(t *testing.T, ctl string) int {
	t.Helper()
	return exitCode(t, execZedr("status", "--control", ctl))
}

var regexpTime = regexp.MustCompile(`time=(\S+)`)

// logTime is the time= of a text log line.
func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	m := regexpTime.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no time= in %q", line)
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestStopDelay: after SIGTERM, `zedr-run status` exits 3 at once while
// the child goes on serving every request for the stop delay; then the
// usual graceful stop, and zedr-run exits with the child's status.
func TestStopDelay(t *testing.T) {
	const delay = 3 * time.Second
	ctl := filepath.Join(t.TempDir(), "ctl.sock")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--control", ctl, "--stop-delay", delay.String(), "--", bin("testserver"), "-notify")
	z.readyPID(1)
	if code := statusCode(t, ctl); code != 0 {
		t.Fatalf("status exited %d while serving, want 0", code)
	}
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	z.signal(syscall.SIGTERM)
	z.waitLog(`msg="serving on for the stop delay before stopping" delay=3s`)
	if code := statusCode(t, ctl); code != 3 {
		t.Fatalf("status exited %d during the stop delay, want 3", code)
	}
	before := load.Snapshot().Requests
	waitRequests(t, load, 500)
	res := stopLoad(t, load, "during the stop delay")
	if n := z.countLog(`msg="stopping generation"`); n != 0 {
		t.Fatalf("the child was stopped before the load ended; the delay did not hold (or the machine took %v for 500 requests)", delay)
	}
	t.Logf("%d requests answered after SIGTERM, during the stop delay", res.Requests-before)
	if code := z.wait(); code != 0 {
		t.Fatalf("zedr-run exited %d, want 0 (the child's graceful exit)", code)
	}
	began := logTime(t, z.waitLog(`^time=\S+ .*msg=stopping why="signal SIGTERM"`)[0])
	stopped := logTime(t, z.waitLog(`^time=\S+ .*msg="stopping generation" gen=1 `)[0])
	t.Logf("the child got SIGTERM %v after zedr-run did (stop delay %v)", stopped.Sub(began).Round(time.Millisecond), delay)
	if stopped.Sub(began) < delay {
		t.Errorf("the child was stopped %v after SIGTERM, before the %v stop delay", stopped.Sub(began), delay)
	}
}

// TestStopDelaySecondSignal: a second SIGTERM skips the rest of a long stop
// delay: the graceful stop begins at once.
func TestStopDelaySecondSignal(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--stop-delay", "1h", "--", bin("testserver"), "-notify")
	z.readyPID(1)
	z.signal(syscall.SIGTERM)
	z.waitLog(`msg="serving on for the stop delay before stopping" delay=1h0m0s`)
	z.signal(syscall.SIGTERM)
	z.waitLog(`msg="stop delay skipped" by="second stop signal SIGTERM"`)
	if code := z.wait(); code != 0 {
		t.Fatalf("zedr-run exited %d, want 0 (a graceful stop, not a kill)", code)
	}
	if n := z.countLog(`second stop signal: killing`); n != 0 {
		t.Error("the second SIGTERM killed the generations instead of skipping the delay")
	}
}
