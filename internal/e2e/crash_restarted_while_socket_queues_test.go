package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

const nWorkers = 4

// workerPIDs waits for generation gen to be ready and returns the pids of
// its workers, in slot order (from the log's pids=[...]).
func (z *zedr) workerPIDs(gen int) []int {
	z.t.Helper()
	m := z.waitLog(fmt.Sprintf(`msg="generation ready" gen=%d .*pids="?\[([0-9 ]+)\]`, gen))
	var pids []int
	for _, f := range strings.Fields(m[1]) {
		p, _ := strconv.Atoi(f)
		pids = append(pids, p)
	}
	return pids
}

// bodiesOf counts the answers of load by generation and worker.
func gensAndWorkers(res loadgen.Result) map[string]int {
	re := regexp.MustCompile(`generation=(\d+) pid=\d+ worker=(\S+)`)
	out := map[string]int{}
	for body, n := range res.Bodies {
		if m := re.FindStringSubmatch(body); m != nil {
			out["gen"+m[1]+"/w"+m[2]] += n
		}
	}
	return out
}

// TestWorkersRestartUnderLoad: four workers share the socket, each with its
// ZEDR_WORKER; restarts replace them one at a time (rolling) or all at once,
// and no request fails.
func TestWorkersRestartUnderLoad(t *testing.T) {
	const restarts = 3
	for _, rollout := range []string{"rolling", "all"} {
		t.Run(rollout, func(t *testing.T) {
			z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--workers", strconv.Itoa(nWorkers), "--rollout", rollout,
				"--ready", "notify", "--", bin("testserver"), "-notify")
			if pids := z.workerPIDs(1); len(pids) != nWorkers {
				t.Fatalf("generation 1 has workers %v, want %d", pids, nWorkers)
			}
			load := startLoad(t, z.addr)
			waitRequests(t, load, 400)
			for i := 1; i <= restarts; i++ {
				z.signal(syscall.SIGUSR2)
				pids := z.workerPIDs(i + 1)
				if len(pids) != nWorkers {
					t.Fatalf("generation %d has workers %v, want %d", i+1, pids, nWorkers)
				}
				for _, p := range z.workerPIDs(i) {
					waitGone(t, p)
				}
				waitRequests(t, load, 200)
			}
			res := load.Stop()
			seen := gensAndWorkers(res)
			t.Logf("%d %s restarts of %d workers under load: %v; answers by generation/worker: %v", restarts, rollout, nWorkers, res, seen)
			if res.Failed() != 0 {
				t.Errorf("%d requests failed: %v; examples: %q", res.Failed(), res.Failures, res.Errors)
			}
			for w := range nWorkers {
				if seen[fmt.Sprintf("gen1/w%d", w)] == 0 {
					t.Errorf("worker %d of generation 1 answered no request", w)
				}
			}
			if rollout == "rolling" && z.countLog(`msg="worker ready" gen=2 `) != nWorkers-1 {
				t.Errorf("a rolling restart should ready the workers of generation 2 one by one:\n%s", z.log())
			}
			z.signal(syscall.SIGTERM)
			if code := z.wait(); code != 0 {
				t.Errorf("zedr-run exited %d after SIGTERM, want 0", code)
			}
		})
	}
}

// TestWorkerCrash: a worker killed with SIGKILL is replaced alone; the
// other three keep serving and no connection is refused.
func TestWorkerCrash(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--workers", strconv.Itoa(nWorkers), "--ready", "delay:100ms", "--", bin("testserver"))
	pids := z.workerPIDs(1)
	load := startLoad(t, z.addr)
	waitRequests(t, load, 400)
	if err := syscall.Kill(pids[2], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	z.waitLog(`msg="child crashed" gen=1 worker=2 pid=` + strconv.Itoa(pids[2]))
	repl := z.workerPIDs(2)
	if len(repl) != 1 {
		t.Fatalf("the crashed worker was replaced by %v, want one process", repl)
	}
	// The replacement takes its share of the load once it accepts (on a
	// loaded machine, a while after it counts as ready).
	deadline := time.Now().Add(waitLimit)
	for gensAndWorkers(load.Snapshot())["gen2/w2"] == 0 && time.Now().Before(deadline) {
		waitRequests(t, load, 50)
	}
	res := load.Stop()
	t.Logf("one of %d workers killed under load: %v; answers: %v", nWorkers, res, gensAndWorkers(res))
	for i, p := range pids {
		if i != 2 && !pidAlive(p) {
			t.Errorf("worker %d pid=%d was stopped; only the crashed one should be replaced", i, p)
		}
	}
	if n := res.Failures[loadgen.Refused]; n != 0 {
		t.Errorf("%d connections refused", n)
	}
	if n := res.Failed(); n > loadConfig("").Concurrency {
		t.Errorf("%d requests failed, more than a killed worker can have in hand: %v", n, res.Failures)
	}
	if got := gensAndWorkers(res)["gen2/w2"]; got == 0 {
		t.Errorf("the replacement (generation 2, worker 2) answered no request")
	}
}

// TestRolloutStops: a new binary whose third worker fails stops a rolling
// restart; the two new workers already serving keep serving, the old
// workers of the other slots too, and no request fails.
func TestRolloutStops(t *testing.T) {
	dir := t.TempDir()
	app := dir + "/app"
	writeScript(t, app, `if [ "$ZEDR_GENERATION" = 2 ] && [ "$ZEDR_WORKER" = 2 ]; then echo broken worker >&2; exit 3; fi
exec `+bin("testserver")+" -notify")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--workers", strconv.Itoa(nWorkers), "--ready", "notify", "--no-watch", "--", app)
	old := z.workerPIDs(1)
	load := startLoad(t, z.addr)
	waitRequests(t, load, 400)
	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="generation rolled back" gen=2 .*reason="worker 2 exited before ready: exit status 3"`)
	z.waitLog(`msg="rollout stopped: .* gen=2 new_workers="\[0 1\]" slots="\[2 2 1 1\]"`)
	waitGone(t, old[0])
	waitGone(t, old[1])
	waitRequests(t, load, 400)
	res := load.Stop()
	seen := gensAndWorkers(res)
	t.Logf("rolling restart stopped at worker 2 under load: %v; answers: %v", res, seen)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v; examples: %q", res.Failed(), res.Failures, res.Errors)
	}
	for _, p := range old[2:] {
		if !pidAlive(p) {
			t.Errorf("old worker pid=%d was stopped by a rollout that failed before reaching it", p)
		}
	}
	for _, k := range []string{"gen2/w0", "gen2/w1", "gen1/w2", "gen1/w3"} {
		if seen[k] == 0 {
			t.Errorf("%s answered no request after the rollout stopped", k)
		}
	}
}
