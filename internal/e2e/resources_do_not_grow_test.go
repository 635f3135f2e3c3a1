package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: Resources do not grow.

// TestSoak restarts many times in a row and checks that zedr-run's own
// resources do not grow: open fds equal, RSS within a small constant, no
// zombie, no notify socket left after exit. ZEDR_SOAK_RESTARTS sets the
// count (default 60; the soak in the README uses 1000).
func TestSoak(t *testing.T) {
	restarts := 60
	if v := os.Getenv("ZEDR_SOAK_RESTARTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 {
			t.Fatalf("ZEDR_SOAK_RESTARTS=%q: want a number of at least 20", v)
		}
		restarts = n
	}
	tmp := t.TempDir()
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--ready", "delay:10ms", "--stop-timeout", "5s", "--", bin("testserver"))
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	pid := cmd.Process.Pid
	load := startLoad(t, z.addr)

	const warmup = 10
	var fdsBefore, rssBefore int
	for i := 1; i <= restarts; i++ {
		if i == warmup {
			fdsBefore, rssBefore = openFDs(t, pid), rssKiB(t, pid)
		}
		z.signal(syscall.SIGUSR2)
		z.readyPID(i + 1)
		z.waitLog(fmt.Sprintf(`msg="generation exited" gen=%d `, i))
	}
	fdsAfter, rssAfter := openFDs(t, pid), rssKiB(t, pid)
	res := load.Stop()
	t.Logf("%d restarts: zedr-run fds %d -> %d, RSS %d -> %d KiB; zombies %v; load %v",
		restarts, fdsBefore, fdsAfter, rssBefore, rssAfter, zombiesOf(pid), res)
	if fdsAfter != fdsBefore {
		t.Errorf("zedr-run's open fds went from %d to %d over %d restarts", fdsBefore, fdsAfter, restarts-warmup)
	}
	// The Go heap settles within a few MiB; a leak per restart would show
	// as growth proportional to the count.
	if grow := rssAfter - rssBefore; grow > 8*1024+restarts*4 {
		t.Errorf("zedr-run's RSS grew by %d KiB over %d restarts", grow, restarts-warmup)
	}
	if zs := zombiesOf(pid); len(zs) > 0 {
		t.Errorf("zombies under zedr-run: %v", zs)
	}
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
	z.signal(syscall.SIGTERM)
	z.wait()
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
		t.Errorf("left behind in TMPDIR after exit: %v", left)
	}
}

func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
