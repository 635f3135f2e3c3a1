package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: Draining is bounded and graceful.

// TestStopTimeout: an old child that ignores SIGTERM is killed with its whole
// process group once --stop-timeout has passed.
func TestStopTimeout(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--stop-timeout", "1s",
		"--", bin("testserver"), "-mode", "ignore-term")
	old := z.readyPID(1)
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	z.waitLog(`msg="stop timeout: killing the process group" gen=1 pgid=` + fmt.Sprint(old))
	waitGone(t, old)
	z.waitLog(`msg="generation exited" gen=1 .*status="killed by SIGKILL"`)
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

// TestOrphanedGrandchildStopped: an old generation whose main process exits
// but leaves a process of its group behind (holding the socket) has that
// process stopped too.
func TestOrphanedGrandchildStopped(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--stop-timeout", "1s", "--",
		"sh", "-c", `sh -c 'trap "" TERM; echo $$ > "$0"; exec sleep 1000' "$0" & trap 'exit 0' TERM; while :; do sleep 100 & wait $!; done`, pidFile)
	z.readyPID(1)
	var grandchild int
	for grandchild == 0 {
		b, _ := os.ReadFile(pidFile)
		fmt.Sscan(string(b), &grandchild)
	}
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	z.waitLog(`msg="stop timeout: killing the process group" gen=1 `)
	waitGone(t, grandchild)
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
