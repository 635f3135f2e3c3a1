package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

// Guarantee: Resources do not grow.

// TestSoak restarts many times in a row and checks that zedr-run's own
// resources do not grow: open fds equal, RSS within a small constant, no
// zombie, no notify socket left after exit.
//
// "under load": the test server under load, ZEDR_SOAK_RESTARTS restarts
// (default 60; the soak in the README uses 1000). From 1,000 restarts on it
// also checks the anonymous RSS against the footprint target
// (soakAnonTarget), and from 2,000 on that RSS is flat after the first 1,000
// (neither with -race: the detector's own memory grows).
//
// "RSS flat": soakFlatRestarts restarts of a trivial child (sleep, ready
// after 1 ms), in the normal suite but not with -short: about 50 s on a
// 2-core machine. RSS at the last restart is at most soakFlat above RSS at
// restart soakSettled, and the garbage collector ran at most once per
// restart (read from --http's /metrics).
func TestSoak(t *testing.T) {
	t.Run("under load", func(t *testing.T) {
		restarts := 60
		if v := os.Getenv("ZEDR_SOAK_RESTARTS"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 20 {
				t.Fatalf("ZEDR_SOAK_RESTARTS=%q: want a number of at least 20", v)
			}
			restarts = n
		}
		soak(t, bin("zedr-run"), raceEnabled, restarts, true, "--ready", "delay:10ms", "--", bin("testserver"))
	})
	t.Run("RSS flat", func(t *testing.T) {
		if testing.Short() {
			t.Skipf("%d restarts take minutes: not with -short", soakFlatRestarts)
		}
		soak(t, plainZedr(t), false, soakFlatRestarts, false, "--http", "127.0.0.1:0", "--ready", "delay:1ms", "--", "sleep", "100000")
	})
}

// soakFlatRestarts is how many restarts the "RSS flat" soak does: 4,000
// after the first soakSettled, where a leak of a few hundred bytes per
// restart would show above the noise.
const soakFlatRestarts = 5000

// plainZedr is a zedr-run built without the race detector: in a -race
// build, the detector's own memory grows with every goroutine started
// (about 0.7 KiB per restart), which is not zedr-run's.
func plainZedr(t *testing.T) string {
	t.Helper()
	if !raceEnabled {
		return bin("zedr-run")
	}
	out := filepath.Join(t.TempDir(), "zedr-run")
	cmd := exec.Command("go", "build", "-o", out, "zedr-run")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build zedr-run without -race: %v\n%s", err, b)
	}
	return out
}

// soak restarts zedrRun (built with the race detector or not), run with
// the readiness and command in args, that many times in a row, under load
// (the command serves HTTP) or not, and checks that its resources do not
// grow.
func soak(t *testing.T, zedrRun string, race bool, restarts int, withLoad bool, args ...string) {
	tmp := t.TempDir()
	cmd := exec.Command(zedrRun, append([]string{"--listen", "tcp:127.0.0.1:0", "--stop-timeout", "5s"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	pid := cmd.Process.Pid
	var load *loadgen.Load
	if withLoad {
		load = startLoad(t, z.addr)
	}

	const warmup = 10
	var fdsBefore, rssBefore, rssAt1000 int
	var curve []string // RSS at every tenth of the run
	next := 0          // the log line to look from
	t0 := time.Now()
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
	fdsAfter, rssAfter := settledFDs(t, pid, fdsBefore), rssKiB(t, pid)
	if slices.Contains(args, "--http") {
		// A memory limit below what the runtime itself maps makes the
		// collector run at every allocation: thousands of collections,
		// zedr-run's CPU per restart growing tenfold. Normally it runs
		// once every few dozen restarts.
		m := z.waitLog(`msg="serving /healthz, /readyz and /metrics" addr=http://(\S+)`)
		gcs := gcCount(t, m[1])
		t.Logf("%d garbage collections in %d restarts", gcs, restarts)
		if gcs > restarts {
			t.Errorf("%d garbage collections in %d restarts, want at most one per restart: is the memory limit below the runtime's own?", gcs, restarts)
		}
	}
	var res loadgen.Result
	if load != nil {
		res = load.Stop()
	}
	t.Logf("%d restarts in %v: zedr-run fds %d -> %d, RSS %d -> %d KiB; zombies %v; load %v",
		restarts, time.Since(t0).Round(time.Second), fdsBefore, fdsAfter, rssBefore, rssAfter, zombiesOf(pid), res)
	t.Logf("RSS by restart: %s", strings.Join(curve, " "))
	// fdsBefore may count a status channel still open from the restart
	// before it, so fewer at the end is no finding; more would be a leak
	// (one per restart shows as thousands).
	if fdsAfter > fdsBefore {
		t.Errorf("zedr-run's open fds went from %d to %d over %d restarts", fdsBefore, fdsAfter, restarts-warmup)
	}
	// The Go heap settles within a few MiB; a leak per restart would show
	// as growth proportional to the count.
	if grow := rssAfter - rssBefore; grow > 8*1024+restarts*4 {
		t.Errorf("zedr-run's RSS grew by %d KiB over %d restarts", grow, restarts-warmup)
	}
	if anon := anonKiB(t, pid); restarts >= soakSettled && !race && anon > soakAnonTarget {
		t.Errorf("zedr-run's anonymous RSS (heap, stacks) is %d KiB after %d restarts, want at most %d", anon, restarts, soakAnonTarget)
	}
	if restarts >= 2*soakSettled && !race {
		t.Logf("RSS at restart %d: %d KiB; at %d: %d KiB (%+d, at most %+d)", soakSettled, rssAt1000, restarts, rssAfter, rssAfter-rssAt1000, soakFlat)
		if rssAfter-rssAt1000 > soakFlat {
			t.Errorf("zedr-run's RSS grew from %d KiB at restart %d to %d KiB at %d, want at most %d KiB more: it should be flat",
				rssAt1000, soakSettled, rssAfter, restarts, soakFlat)
		}
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
// zedr-run's anonymous RSS (what it allocates: heap, stacks) is at most
// soakAnonTarget; the rest of its RSS is the pages of its binary (about
// 8.4 MiB, 10 MiB while the Prometheus client was linked in), which depend
// on the binary's size, not on restarts. A -race build is larger and not
// checked. From then on the whole RSS grows by at most soakFlat, the noise
// of a flat line (it moves by about 300 KiB from one reading to the next).
const (
	soakSettled    = 1000
	soakAnonTarget = 6 * 1024
	soakFlat       = 1024
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

// gcCount reads how many garbage collections zedr-run ran from its
// /metrics at addr.
func gcCount(t *testing.T, addr string) int {
	t.Helper()
	return int(metricValue(t, scrape(t, addr), "go_gc_duration_seconds"))
}

// settledFDs is the number of fds pid has open, once it is at most want or
// after a second: the last restart's status channel is closed by its reader
// just after the loop handled its report.
func settledFDs(t *testing.T, pid, want int) int {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		n := openFDs(t, pid)
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func rssKiB(t *testing.T, pid int) int { return statusKiB(t, pid, "VmRSS") }

// anonKiB is the anonymous part of pid's RSS (heap, stacks): what zedr-run
// allocates, as opposed to the pages of its binary.
func anonKiB(t *testing.T, pid int) int { return statusKiB(t, pid, "RssAnon") }

func statusKiB(t *testing.T, pid int, key string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
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
