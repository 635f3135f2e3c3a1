package e2e

import (
	"syscall"
	"testing"
)

// Guarantee: Restart requests coalesce.

// TestRestartStorm: 100 SIGUSR2 in a burst coalesce into a few restarts,
// and the service is intact.
func TestRestartStorm(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:200ms", "--", bin("testserver"))
	z.readyPID(1)
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	for range 100 {
		z.signal(syscall.SIGUSR2)
	}
	z.readyPID(2)
	// Let whatever was queued finish: the last restart requested leaves
	// one generation ready with none starting.
	get(t, z.addr, "/")
	waitRequests(t, load, 500)
	started := z.countLog(`msg="generation started"`)
	res := load.Stop()
	t.Logf("100 SIGUSR2 in a burst: %d generations started; load %v", started, res)
	if started > 3 {
		t.Errorf("100 restart signals started %d generations; requests should coalesce (one running, one waiting)", started)
	}
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
}
