package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDaemonizingChild: a child that forks its server into the background
// and exits 0 is rolled back with a hint, unless it names its main process
// with MAINPID=, as systemd's Type=notify services do; then the daemon is
// supervised like any child.
func TestDaemonizingChild(t *testing.T) {
	notify, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Skip("systemd-notify (Debian's systemd) is not installed")
	}
	app := filepath.Join(t.TempDir(), "app")
	writeScript(t, app, "exec "+bin("testserver")+" -notify")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--no-watch", "--", app)
	z.readyPID(1)
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)

	// Daemonizes without saying so: rolled back, generation 1 serves on.
	writeScript(t, app, bin("testserver")+" -notify -start-delay 2s >/dev/null 2>&1 &\nexit 0")
	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="generation rolled back" gen=2 .*exit status 0 \(a program that daemonizes must be run in the foreground`)

	// Daemonizes and names its main process: supervised as the child.
	// (The daemon takes the sockets as a forking server does: LISTEN_PID
	// names the process that execs it.)
	writeScript(t, app, "sh -c 'LISTEN_PID=$$ exec \"$0\" -notify -start-delay 200ms' "+bin("testserver")+" &\n"+notify+" MAINPID=$!\nexit 0")
	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="child named its main process" gen=3 pid=(\d+)`)
	daemon := z.readyPID(3)
	z.waitLog(`msg="generation exited" gen=1 `)
	waitRequests(t, load, 200)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, fmt.Sprintf("generation=3 pid=%d ", daemon)) {
		t.Errorf("the daemon named by MAINPID= should serve, got %q", body)
	}
	res := load.Stop()
	t.Logf("a daemonizing child rolled back, one with MAINPID= taking over, under load: %v", res)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
}

// TestChildClosesSocket: a child that closes its inherited socket closes
// only its own copy: the next generation gets zedr-run's and serves.
func TestChildClosesSocket(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	writeScript(t, app, "exec 3>&-; exec sleep 1000") // closes fd 3, serves nothing
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--stop-timeout", "1s", "--no-watch", "--", app)
	z.readyPID(1)
	writeScript(t, app, "exec "+bin("testserver"))
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=2 ") {
		t.Errorf("after a child closed its socket, the next one answers %q", body)
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
