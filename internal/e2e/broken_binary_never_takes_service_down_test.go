package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"zedr-run/internal/loadgen"
)

// Guarantee: A broken new binary never takes the service down.

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

// TestDeployBroken deploys broken binaries of every kind: not executable, not
// a program (exec format error), crashing at start, never ready. The first
// generation serves throughout, and a fixed binary deployed afterwards is
// picked up as usual.
func TestDeployBroken(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	writeFile(t, app, binVersion(t, 1), 0o755)
	d := startDeploy(t, []string{"--watch-settle", testSettle, "--ready-timeout", "3s"}, app, "-notify")
	_, first := d.serving()

	steps := []struct {
		name string
		data []byte
		mode os.FileMode
		log  string
	}{
		{"not executable", binVersion(t, 2), 0o644, `msg="generation failed to start" gen=2 .*permission denied`},
		{"exec format error", []byte("\x00\x01 this is not a program\n"), 0o755, `msg="generation failed to start" gen=3 .*exec format error`},
		{"crashes at start", []byte("#!/bin/sh\necho crashing >&2\nexit 3\n"), 0o755, `msg="generation rolled back" gen=4 .*reason="exited before ready: exit status 3"`},
		{"never ready", []byte("#!/bin/sh\nexec " + bin("testserver") + " -mode never-ready\n"), 0o755, `msg="generation rolled back" gen=5 .*reason="not ready after 3s`},
	}
	for _, s := range steps {
		renameInto(t, app, s.data, s.mode)
		d.waitLog(s.log)
		waitRequests(t, d.load, 200)
		if g, pid := d.serving(); g != 1 || pid != first {
			t.Fatalf("after deploying a binary that is %s, generation %d pid=%d answers; want generation 1 pid=%d", s.name, g, pid, first)
		}
		t.Logf("%s: rolled back, generation 1 still serves", s.name)
	}
	renameInto(t, app, binVersion(t, 2), 0o755)
	d.readyPID(6)
	waitGone(t, first)
	d.wantServing(6, app)
	d.finish(len(steps) + 1)
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
	z.waitLog(`msg="generation rolled back" gen=2 .*exit status 0 \(a program that daemonizes must be run in the foreground.* fixed pid file .*ZEDR_GENERATION`)

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

// TestPidFileChild: a server that finds its fixed pid file held by the
// generation serving takes itself for already running and exits 0; it is
// rolled back with the hint, and ZEDR_GENERATION in the pid file's path (the
// hint's fix, through a shell) lets the next generation start.
func TestPidFileChild(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	server := func(pidFile string) string {
		return fmt.Sprintf(`pid=%s
if [ -s "$pid" ] && kill -0 "$(cat "$pid")" 2>/dev/null; then echo "already running"; exit 0; fi
echo $$ >"$pid"
exec %s -notify`, pidFile, bin("testserver"))
	}
	writeScript(t, app, server(filepath.Join(dir, "app.pid")))
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--no-watch", "--", app)
	z.readyPID(1)
	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="generation rolled back" gen=2 .*exit status 0 .* fixed pid file .*ZEDR_GENERATION`)

	writeScript(t, app, server(filepath.Join(dir, "app-$ZEDR_GENERATION.pid")))
	z.signal(syscall.SIGUSR2)
	pid := z.readyPID(3)
	z.waitLog(`msg="generation exited" gen=1 `)
	if b, err := os.ReadFile(filepath.Join(dir, "app-3.pid")); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Errorf("generation 3's pid file holds %q (%v), want %d", b, err, pid)
	}
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=3 ") {
		t.Errorf("after the fix the server answers %q, want generation 3", body)
	}
}
