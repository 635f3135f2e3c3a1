package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Guarantee: Resources do not grow.

// TestSoak restarts many times in a row and checks that zedr-run's own
// resources do not grow: open fds equal, RSS within a small constant, no
// zombie, no notify socket left after exit. ZEDR_SOAK_RESTARTS sets the
// count (default 60; the soak in the README uses 1000). From 1,000 restarts
// on it also checks RSS against the footprint target (soakRSSTarget), and
// from 2,000 on that RSS is flat after the first 1,000.
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
	var fdsBefore, rssBefore, rssAt1000 int
	var curve []string // RSS at every tenth of the run
	next := 0          // the log line to look from
	for i := 1; i <= restarts; i++ {
		if i == warmup {
			fdsBefore, rssBefore = openFDs(t, pid), rssKiB(t, pid)
		}
		if i == soakSettled {
			rssAt1000 = rssKiB(t, pid)
		}
		if i%(restarts/10) == 0 {
			curve = append(curve, fmt.Sprintf("%d:%s", i, rssDetail(t, pid)))
		}
		z.signal(syscall.SIGUSR2)
		next = z.waitLogFrom(next, fmt.Sprintf(`msg="generation ready" gen=%d `, i+1))
		next = z.waitLogFrom(next, fmt.Sprintf(`msg="generation exited" gen=%d `, i))
	}
	fdsAfter, rssAfter := openFDs(t, pid), rssKiB(t, pid)
	res := load.Stop()
	t.Logf("%d restarts: zedr-run fds %d -> %d, RSS %d -> %d KiB; zombies %v; load %v",
		restarts, fdsBefore, fdsAfter, rssBefore, rssAfter, zombiesOf(pid), res)
	t.Logf("RSS by restart: %s", strings.Join(curve, " "))
	if fdsAfter != fdsBefore {
		t.Errorf("zedr-run's open fds went from %d to %d over %d restarts", fdsBefore, fdsAfter, restarts-warmup)
	}
	// The Go heap settles within a few MiB; a leak per restart would show
	// as growth proportional to the count.
	if grow := rssAfter - rssBefore; grow > 8*1024+restarts*4 {
		t.Errorf("zedr-run's RSS grew by %d KiB over %d restarts", grow, restarts-warmup)
	}
	if restarts >= soakSettled && !raceEnabled && rssAfter > soakRSSTarget {
		t.Errorf("zedr-run's RSS is %d KiB after %d restarts, want at most %d", rssAfter, restarts, soakRSSTarget)
	}
	if restarts >= 2*soakSettled && rssAfter-rssAt1000 > soakFlat {
		t.Errorf("zedr-run's RSS grew from %d KiB at restart %d to %d KiB at %d, want at most %d KiB more: it should be flat",
			rssAt1000, soakSettled, rssAfter, restarts, soakFlat)
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

// The footprint the soak checks, in KiB: after soakSettled restarts
// zedr-run's RSS is at most soakRSSTarget (the binary's own pages are about
// 5.8 MiB of it; a -race build is larger and not checked), and from then on
// it grows by at most soakFlat, the noise of a flat line (it moves by about
// 300 KiB from one reading to the next).
const (
	soakSettled   = 1000
	soakRSSTarget = 10 * 1024
	soakFlat      = 1024
)

// waitLogFrom waits for a line matching expr at index from or later and
// returns the index after it: a soak of thousands of restarts must not
// rescan its whole log at each one.
func (z *zedr) waitLogFrom(from int, expr string) int {
	z.t.Helper()
	re := regexp.MustCompile(expr)
	deadline := time.After(waitLimit)
	exited := false
	for {
		z.mu.Lock()
		for i := from; i < len(z.lines); i++ {
			if re.MatchString(z.lines[i]) {
				z.mu.Unlock()
				return i + 1
			}
		}
		from = len(z.lines)
		z.mu.Unlock()
		if exited {
			z.t.Fatalf("zedr-run exited (%v) before logging %q", z.err, expr)
		}
		select {
		case <-z.wake:
		case <-z.exited:
			exited = true // one more look: the last lines may have come with the exit
		case <-deadline:
			z.t.Fatalf("no log line matching %q within %v", expr, waitLimit)
		}
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

// rssDetail reads VmRSS, and its anonymous (heap, stacks) and file-backed
// (the binary's pages) parts, in KiB.
func rssDetail(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			f[k] = strings.TrimSuffix(strings.TrimSpace(v), " kB")
		}
	}
	return fmt.Sprintf("%s(anon=%s,file=%s)", f["VmRSS"], f["RssAnon"], f["RssFile"])
}
