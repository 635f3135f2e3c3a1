package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Guarantee: zedr-run is not on the data path.

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
