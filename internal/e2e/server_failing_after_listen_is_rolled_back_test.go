package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: A server that fails right after listen() is rolled back.
//
// --ready listen sees listen(), which many servers call before their last
// set-up steps (reading a configuration, opening log files). rawserver
// -config reads its configuration after opening its socket and exits 1 if
// it is bad. With --ready listen's default --min-ready, such a generation
// dies within it: the restart is a rollback (`restart --wait` exits 1 with
// the reason), the old generation was never told to stop and serves every
// request.

func TestServerFailingAfterListenRolledBack(t *testing.T) {
	needIntercept(t)
	dir := t.TempDir()
	ctl, config := filepath.Join(dir, "ctl.sock"), filepath.Join(dir, "app.conf")
	writeFile(t, config, []byte("ok\n"), 0o644)
	addr := "127.0.0.1:" + strconv.Itoa(freePortNum(t))
	z := startZedr(t, "--control", ctl, "--intercept-bind", "--listen", "tcp:"+addr, "--ready", "listen", "--no-watch", "--",
		bin("rawserver"), "-listen", addr, "-nonblock-after-listen", "0s", "-config", config)
	pid := z.readyPID(1)
	z.waitLog(`rawserver: serving on`)
	load := startLoad(t, addr)
	waitRequests(t, load, 200)
	writeFile(t, config, []byte("broken\n"), 0o644)
	const tries = 3
	for i := range tries {
		out, err := exec.Command(bin("zedr-run"), "restart", "--wait", "--control", ctl).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("restart --wait with a broken config: %v, want exit 1; output:\n%s", err, out)
		}
		if !strings.Contains(string(out), "rolled back") || !strings.Contains(string(out), "exited before ready") {
			t.Errorf("restart --wait says %q, want the rollback and its reason", out)
		}
		z.waitLog(`msg="generation rolled back" gen=` + strconv.Itoa(i+2) + ` `)
		waitRequests(t, load, 100)
	}
	stopLoad(t, load, strconv.Itoa(tries)+" restarts into a server that fails after listen()")
	if !pidAlive(pid) {
		t.Errorf("generation 1 (pid=%d) is gone", pid)
	}
	if n := z.countLog(`msg="stopping generation" gen=1 `); n != 0 {
		t.Errorf("generation 1 was told to stop %d times", n)
	}
	if body := get(t, addr, "/"); !strings.HasPrefix(body, "generation=1 ") {
		t.Errorf("after the rollbacks the server answers %q, want generation 1", body)
	}
	z.signal(syscall.SIGTERM)
	z.wait()
}
