package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

// The fault tests try what goes wrong in production against the real binary,
// each under load, and count what was lost.

// TestCrashBeforeReady: a new child that serves for a moment and crashes
// before it is ready is rolled back; the old one serves throughout.
func TestCrashBeforeReady(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	good := "exec " + bin("testserver") + " -notify"
	writeScript(t, app, good)
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--no-watch", "--", app)
	z.readyPID(1)
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	// Serves (without saying READY=1) for 300 ms, then crashes.
	writeScript(t, app, "exec "+bin("testserver")+" -mode crash-after=300ms")
	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="generation rolled back" gen=2 .*reason="exited before ready: exit status 4"`)
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("a new child crashing 300ms after start, under load: %v", res)
	// It accepted connections while it lived, and the ones it had in hand
	// when it crashed are lost; nothing is refused.
	if n := res.Failures[loadgen.Refused]; n != 0 {
		t.Errorf("%d connections refused", n)
	}
	if n := res.Failed(); n > loadConfig("").Concurrency {
		t.Errorf("%d requests failed, more than the %d the crashing child can have in hand: %v %q", n, loadConfig("").Concurrency, res.Failures, res.Errors)
	}
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=1 ") {
		t.Errorf("after the rollback the server answers %q, want generation 1", body)
	}
}

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

// TestRestartWhileDraining: a restart while the previous old generation is
// still draining (it finishes a slow request) leaves two generations
// draining and one serving; the slow request is answered.
func TestRestartWhileDraining(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", bin("testserver"))
	first := z.readyPID(1)
	slow := make(chan string, 1)
	go func() { slow <- httpGet(t, z.addr, "/slow?d=3s") }()
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	z.signal(syscall.SIGUSR2)
	z.readyPID(3)
	if !pidAlive(first) {
		t.Error("generation 1 should still be draining its slow request")
	}
	z.waitLog(`msg="generation exited" gen=2 .*status="exit status 0"`)
	z.waitLog(`msg="generation exited" gen=1 .*status="exit status 0"`)
	if body := <-slow; !strings.HasPrefix(body, fmt.Sprintf("generation=1 pid=%d ", first)) {
		t.Errorf("the slow request to generation 1 got %q", body)
	}
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("restart while draining: %v", res)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
}

// TestStopDuringRestart: SIGTERM to zedr-run while a new generation is
// starting stops both, and zedr-run exits with the serving child's status.
func TestStopDuringRestart(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--",
		bin("testserver"), "-notify", "-start-delay", "2s")
	first := z.readyPID(1)
	z.signal(syscall.SIGUSR2)
	m := z.waitLog(`msg="generation started" gen=2 pid=(\d+)`)
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d, want 0 (generation 1 stopped gracefully)", code)
	}
	var second int
	fmt.Sscan(m[1], &second)
	waitGone(t, first)
	waitGone(t, second)
}

// TestStoppedSupervisor: zedr-run stopped with SIGSTOP is not on the data
// path, so the service goes on serving; after SIGCONT restarts work again.
func TestStoppedSupervisor(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", bin("testserver"))
	z.readyPID(1)
	load := startLoad(t, z.addr)
	z.signal(syscall.SIGSTOP)
	waitRequests(t, load, 2000)
	z.signal(syscall.SIGCONT)
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("zedr-run stopped while serving, then a restart: %v", res)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
}

// TestClosedOutput: zedr-run whose stdout and stderr are closed pipes (the
// log reader went away) is not killed by EPIPE and goes on restarting.
func TestClosedOutput(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// The child writes elsewhere: its own output is its own business (a Go
	// program writing to a closed pipe dies of SIGPIPE).
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", "sh", "-c", "exec \"$0\" 2>/dev/null", bin("testserver"))
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	w.Close()
	// Read the listening line, then close the pipe: every later log write fails.
	buf := make([]byte, 4096)
	n, _ := r.Read(buf)
	r.Close()
	var addr string
	for _, f := range strings.Fields(string(buf[:n])) {
		if a, ok := strings.CutPrefix(f, "addr="); ok {
			addr = a
		}
	}
	if addr == "" {
		t.Fatalf("no address in %q", buf[:n])
	}
	load := startLoad(t, addr)
	waitRequests(t, load, 200)
	for range 3 {
		cmd.Process.Signal(syscall.SIGUSR2)
		waitRequests(t, load, 300)
	}
	res := load.Stop()
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
	// The restarts happened although no log line could be written.
	deadline := time.Now().Add(waitLimit)
	for strings.HasPrefix(get(t, addr, "/"), "generation=1 ") {
		if time.Now().After(deadline) {
			t.Fatal("generation 1 still serves: the restarts did not happen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("zedr-run died with its output closed: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	state, _ := cmd.Process.Wait()
	t.Logf("with output closed: %v; zedr-run %v", res, state)
	if !state.Exited() {
		t.Errorf("zedr-run ended with %v, want a normal exit", state)
	}
}
