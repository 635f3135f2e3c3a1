package e2e

import (
	"context"
	"fmt"
	"regexp"
	"syscall"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

// Bounded load against a zedr-run socket (internal/loadgen), and reading
// its results.

// loadConfig is the bounded load run against a socket during restarts: 32
// clients, a new TCP connection for every request, so that a moment with no
// one accepting would show as refused connections.
func loadConfig(addr string) loadgen.Config {
	return loadgen.Config{Addr: addr, Concurrency: 32, MaxRequests: 2_000_000, Duration: 3 * time.Minute, Timeout: 20 * time.Second}
}

func startLoad(t *testing.T, addr string) *loadgen.Load {
	t.Helper()
	return startLoadWith(t, loadConfig(addr))
}

// startLoadWith starts the load cfg describes; the test's cleanup stops it.
func startLoadWith(t *testing.T, cfg loadgen.Config) *loadgen.Load {
	t.Helper()
	l, err := loadgen.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Stop() })
	return l
}

// waitRequests waits until the load has completed n more requests, so that
// every phase of a test is really under load.
func waitRequests(t *testing.T, l *loadgen.Load, n int) {
	t.Helper()
	start := l.Snapshot().Requests
	deadline := time.Now().Add(waitLimit)
	for l.Snapshot().Requests < start+n {
		if time.Now().After(deadline) {
			t.Fatalf("load made no progress: %v", l.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restartsUnderLoad sends SIGUSR2 n times, expecting generations next,
// next+1, ...; each restart is complete (the new generation ready, the old
// one exited) and the load has gone on before the next.
func restartsUnderLoad(t *testing.T, z *zedr, load *loadgen.Load, next, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		z.signal(syscall.SIGUSR2)
		z.readyPID(next + i)
		z.waitLog(fmt.Sprintf(`msg="generation exited" gen=%d `, next+i-1))
		waitRequests(t, load, 100)
	}
}

// stopLoad stops the load, logs its figures and fails the test if any
// request failed.
func stopLoad(t *testing.T, load *loadgen.Load, what string) loadgen.Result {
	t.Helper()
	res := load.Stop()
	t.Logf("%s: %v", what, res)
	if res.Failed() != 0 {
		t.Errorf("%s: %d requests failed: %v; examples: %q", what, res.Failed(), res.Failures, res.Errors)
	}
	return res
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
