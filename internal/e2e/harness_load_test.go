package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

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

func TestRestartUnderLoad(t *testing.T) {
	const restarts = 20
	for _, tc := range []struct {
		name   string
		ready  string
		server []string
	}{
		{"instant start", "delay:100ms", []string{bin("testserver")}},
		{"500ms start with notify", "notify", []string{bin("testserver"), "-start-delay", "500ms", "-notify"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--listen", "tcp:127.0.0.1:0", "--ready", tc.ready, "--"}, tc.server...)
			z := startZedr(t, args...)
			z.readyPID(1)
			load := startLoad(t, z.addr)
			waitRequests(t, load, 200)
			restartsUnderLoad(t, z, load, 2, restarts)
			res := stopLoad(t, load, fmt.Sprintf("%d restarts under load", restarts))
			if res.OK == 0 {
				t.Fatal("no request succeeded")
			}
			z.waitLog(fmt.Sprintf(`msg="generation exited" gen=%d `, restarts))
			if body := get(t, z.addr, "/"); !strings.HasPrefix(body, fmt.Sprintf("generation=%d ", restarts+1)) {
				t.Errorf("after %d restarts the server answers %q, want generation %d", restarts, body, restarts+1)
			}
			z.signal(syscall.SIGTERM)
			if code := z.wait(); code != 0 {
				t.Errorf("zedr-run exited %d after SIGTERM, want 0 (the child's status)", code)
			}
		})
	}
}

// TestRollback deploys broken versions of the command: one that exits at
// once and one that never becomes ready. Each is killed, the old generation
// serves throughout, and a good version deployed afterwards takes over.
// The restarts come from SIGUSR2 (--no-watch: the watcher would restart on
// each deploy by itself; TestDeployBroken covers that trigger).
func TestRollback(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	good := "exec " + bin("testserver") + " -notify"
	writeScript(t, app, good)
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--ready-timeout", "3s", "--no-watch", "--", app)
	first := z.readyPID(1)
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)

	writeScript(t, app, "echo broken build >&2; exit 3")
	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="generation rolled back" gen=2 .*reason="exited before ready: exit status 3"`)
	waitRequests(t, load, 200)

	writeScript(t, app, "exec "+bin("testserver")+" -mode never-ready")
	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="generation rolled back" gen=3 .*reason="not ready after 3s`)
	waitRequests(t, load, 200)

	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, fmt.Sprintf("generation=1 pid=%d ", first)) {
		t.Errorf("after two rollbacks the server answers %q, want generation 1 pid=%d", body, first)
	}

	writeScript(t, app, good)
	z.signal(syscall.SIGUSR2)
	z.readyPID(4)
	waitGone(t, first)
	z.waitLog(`msg="generation exited" gen=1 `)
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("two rollbacks and a good restart under load: %v", res)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v; examples: %q", res.Failed(), res.Failures, res.Errors)
	}
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=4 ") {
		t.Errorf("after the fixed deploy the server answers %q, want generation 4", body)
	}
}

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

// TestKill9LeavesNoChild: zedr-run killed with SIGKILL takes its child
// with it, the port is free again, and the unix socket file it created is
// removed (by the guardian).
func TestKill9LeavesNoChild(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--listen", "unix:"+sock, "--ready", "delay:100ms", "--", bin("testserver"))
	pid := z.readyPID(1)
	z.signal(syscall.SIGKILL)
	z.wait()
	waitGone(t, pid)
	if out, err := exec.Command("ss", "-Hltn", "src", z.addr).Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		t.Errorf("something still listens on %s after zedr-run was killed:\n%s", z.addr, out)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := os.Lstat(sock); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unix socket file %s is still there after zedr-run was killed", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSignalForwarding: signals other than the stop and restart ones reach
// the current child.
func TestSignalForwarding(t *testing.T) {
	dir := t.TempDir()
	got := filepath.Join(dir, "got")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--",
		"sh", "-c", `trap 'echo HUP >> "$0"' HUP; trap 'echo USR1 >> "$0"' USR1; trap 'exit 0' TERM; while :; do sleep 100 & wait $!; done`, got)
	z.readyPID(1)
	z.signal(syscall.SIGHUP)
	waitFile(t, got, "HUP\n")
	z.signal(syscall.SIGUSR1)
	waitFile(t, got, "HUP\nUSR1\n")
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// waitFile waits until the file holds exactly want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKill9LeavesNoGrandchild: the child's own children (a server's
// workers) have no parent-death signal; zedr-run's guardian kills their
// process group when zedr-run dies without stopping them.
func TestKill9LeavesNoGrandchild(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--",
		"sh", "-c", "sleep 1000 & sleep 1000 & wait")
	pid := z.readyPID(1)
	workers := childrenOf(t, pid)
	if len(workers) != 2 {
		t.Fatalf("the child pid=%d has children %v, want the two sleeps", pid, workers)
	}
	z.signal(syscall.SIGKILL)
	z.wait()
	waitGone(t, pid)
	for _, w := range workers {
		waitGone(t, w)
	}
}

// childrenOf lists pid's children (those of all its threads: zedr-run
// starts them from one thread of its own), sorted, waiting until it has two.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("no tasks of pid=%d: %v", pid, err)
		}
		var pids []int
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			for _, f := range strings.Fields(string(b)) {
				var p int
				fmt.Sscan(f, &p)
				pids = append(pids, p)
			}
		}
		sort.Ints(pids)
		if len(pids) >= 2 || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
}
