package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"zedr-run/wrapper/control"
)

// Guarantee: A rolling restart with --surge K keeps N workers serving and
// takes about ceil(N/K) start-ups.

// TestSurgeRollout restarts 8 workers of a server that takes 300ms to
// start, under load, with --surge 1 and then --surge 4: no request fails,
// the ready workers never drop below 8, at most K new ones start at once,
// and the surge-4 rollout takes clearly less time than the surge-1 one.
// The two are compared as a ratio within the run, not against a clock:
// ideally 2/8 (2 start-ups against 8), asserted below 0.7 to leave room
// for a noisy machine.
func TestSurgeRollout(t *testing.T) {
	const n, startDelay = 8, "300ms"
	took := map[int]time.Duration{}
	for _, k := range []int{1, 4} {
		ctl := filepath.Join(t.TempDir(), "control.sock")
		z := startZedr(t, "--control", ctl, "--listen", "tcp:127.0.0.1:0", "--workers", strconv.Itoa(n), "--surge", strconv.Itoa(k),
			"--ready", "notify", "--no-watch", "--", bin("testserver"), "-notify", "-start-delay", startDelay)
		if pids := z.workerPIDs(1); len(pids) != n {
			t.Fatalf("--surge %d: generation 1 has workers %v, want %d", k, pids, n)
		}
		load := startLoad(t, z.addr)
		waitRequests(t, load, 200)
		// The fewest ready workers (every generation) and the most workers
		// of generation 2 starting at once.
		minReady, maxStarting := -1, 0
		watch := pollStatusEach(ctl, func(st control.Status) {
			ready, starting := countWorkers(st, 2)
			if minReady < 0 || ready < minReady {
				minReady = ready
			}
			maxStarting = max(maxStarting, starting)
		})
		z.signal(syscall.SIGUSR2)
		m := z.waitLog(`msg="generation ready" gen=2 .*after=(\S+)`)
		for _, p := range z.workerPIDs(1) {
			waitGone(t, p)
		}
		waitRequests(t, load, 200)
		watch.finish(t, fmt.Sprintf("--surge %d", k))
		stopLoad(t, load, fmt.Sprintf("--surge %d: a restart of %d workers under load", k, n))
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatalf("--surge %d: bad after= in %q: %v", k, m[0], err)
		}
		took[k] = d
		t.Logf("--surge %d: rollout of %d workers took %v; over %d status polls, ready workers never below %d, at most %d new ones starting", k, n, d, watch.answers, minReady, maxStarting)
		if minReady < n {
			t.Errorf("--surge %d: only %d ready workers at one point, want %d always", k, minReady, n)
		}
		if maxStarting > k {
			t.Errorf("--surge %d: %d new workers starting at once, want at most %d", k, maxStarting, k)
		}
		if got := z.countLog(`msg="generation ready" gen=2 `); got != 1 {
			t.Errorf("--surge %d: %d generation 2 ready lines, want 1", k, got)
		}
		z.signal(syscall.SIGTERM)
		if code := z.wait(); code != 0 {
			t.Errorf("zedr-run exited %d after SIGTERM, want 0", code)
		}
	}
	ratio := float64(took[4]) / float64(took[1])
	t.Logf("--surge 4 / --surge 1 rollout time: %v / %v = %.2f (ideal %d/%d = %.2f)", took[4], took[1], ratio, (n+3)/4, n, float64((n+3)/4)/n)
	if ratio >= 0.7 {
		t.Errorf("a rollout with --surge 4 took %v, %.2f of the %v with --surge 1; want clearly less (< 0.7)", took[4], ratio, took[1])
	}
}

// countWorkers counts the ready workers of every generation and the
// starting ones of generation gen.
func countWorkers(st control.Status, gen int) (ready, starting int) {
	for _, g := range st.Generations {
		for _, w := range g.Workers {
			switch {
			case w.State == "ready":
				ready++
			case w.State == "starting" && g.Gen == gen:
				starting++
			}
		}
	}
	return ready, starting
}
