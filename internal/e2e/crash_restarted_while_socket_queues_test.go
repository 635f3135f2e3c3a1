package e2e

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

// Guarantee: A crash is restarted while the socket queues clients.

// TestCrashRestart: a child killed with SIGKILL is started again while the
// sockets stay open, so no connection is refused; only the requests the
// dead child had in hand can fail.
func TestCrashRestart(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", bin("testserver"))
	pid := z.readyPID(1)
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	z.waitLog(`msg="child crashed" gen=1 .*status="killed by SIGKILL"`)
	z.readyPID(2)
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("crash under load: %v", res)
	if n := res.Failures[loadgen.Refused]; n != 0 {
		t.Errorf("%d connections refused while the child was dead; the held socket should queue them", n)
	}
	if n := res.Failed(); n > loadConfig("").Concurrency {
		t.Errorf("%d requests failed, more than the %d a killed child can have in hand: %v", n, loadConfig("").Concurrency, res.Failures)
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
