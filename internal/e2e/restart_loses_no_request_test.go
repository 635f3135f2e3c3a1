package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: A restart loses no request.

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

// TestWorkersRestartUnderLoad: four workers share the socket, each with its
// ZEDR_WORKER; restarts replace them one at a time (rolling) or all at once,
// and no request fails.
func TestWorkersRestartUnderLoad(t *testing.T) {
	const restarts = 3
	for _, rollout := range []string{"rolling", "all"} {
		t.Run(rollout, func(t *testing.T) {
			z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--workers", strconv.Itoa(nWorkers), "--rollout", rollout,
				"--ready", "notify", "--", bin("testserver"), "-notify")
			if pids := z.workerPIDs(1); len(pids) != nWorkers {
				t.Fatalf("generation 1 has workers %v, want %d", pids, nWorkers)
			}
			load := startLoad(t, z.addr)
			waitRequests(t, load, 400)
			for i := 1; i <= restarts; i++ {
				z.signal(syscall.SIGUSR2)
				pids := z.workerPIDs(i + 1)
				if len(pids) != nWorkers {
					t.Fatalf("generation %d has workers %v, want %d", i+1, pids, nWorkers)
				}
				for _, p := range z.workerPIDs(i) {
					waitGone(t, p)
				}
				waitRequests(t, load, 200)
			}
			res := load.Stop()
			seen := gensAndWorkers(res)
			t.Logf("%d %s restarts of %d workers under load: %v; answers by generation/worker: %v", restarts, rollout, nWorkers, res, seen)
			if res.Failed() != 0 {
				t.Errorf("%d requests failed: %v; examples: %q", res.Failed(), res.Failures, res.Errors)
			}
			for w := range nWorkers {
				if seen[fmt.Sprintf("gen1/w%d", w)] == 0 {
					t.Errorf("worker %d of generation 1 answered no request", w)
				}
			}
			if rollout == "rolling" && z.countLog(`msg="worker ready" gen=2 `) != nWorkers-1 {
				t.Errorf("a rolling restart should ready the workers of generation 2 one by one:\n%s", z.log())
			}
			z.signal(syscall.SIGTERM)
			if code := z.wait(); code != 0 {
				t.Errorf("zedr-run exited %d after SIGTERM, want 0", code)
			}
		})
	}
}

// TestGunicorn serves a WSGI app with gunicorn from Debian through zedr-run.
// gunicorn uses LISTEN_FDS only when LISTEN_PID is its own pid, so this
// checks the shim the strict way; without the handed socket it would bind
// 127.0.0.1:8000 and our port would never answer.
func TestGunicorn(t *testing.T) {
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("gunicorn is not installed; scripts/install-test-deps.sh should have installed it")
		}
		t.Skip("gunicorn is not installed (scripts/install-test-deps.sh installs it)")
	}
	dir := t.TempDir()
	app := `import os
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("gunicorn generation=%s pid=%d\n" % (os.environ.get("ZEDR_GENERATION"), os.getppid())).encode()]
`
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:1s", "--",
		gunicorn, "--chdir", dir, "--workers", "2", "--graceful-timeout", "10", "app:app")
	z.readyPID(1)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "gunicorn generation=1 ") {
		t.Fatalf("gunicorn answered %q", body)
	}
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	const restarts = 10
	restartsUnderLoad(t, z, load, 2, restarts)
	stopLoad(t, load, fmt.Sprintf("gunicorn, %d restarts under load", restarts))
	z.waitLog(`msg="generation exited" gen=10 `)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "gunicorn generation=11 ") {
		t.Errorf("after %d restarts gunicorn answers %q", restarts, body)
	}
}

// unitFile reads a systemd unit's Key=Value lines (later ones win).
func unitFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			kv[k] = v
		}
	}
	return kv
}

// TestSystemdExample checks examples/systemd as systemd would use it:
// systemd-analyze verify accepts the units, and the service's ExecStart,
// run the way the socket unit and Type=notify run it (the socket handed by
// systemd-socket-activate, a NOTIFY_SOCKET of its own), becomes ready,
// reloads with ExecReload under load without a failed request, and stops.
func TestSystemdExample(t *testing.T) {
	ssa := systemdSocketActivate(t)
	port := strings.TrimPrefix(freePort(t), "127.0.0.1:")
	dir := t.TempDir()
	paths := strings.NewReplacer("/usr/local/bin/zedr-run", bin("zedr-run"), "/usr/local/bin/myserver", bin("testserver"), "8080", port)
	for _, name := range []string{"myserver.service", "myserver.socket"} {
		b, err := os.ReadFile(fromRoot("examples/systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(paths.Replace(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		cmd := exec.Command(analyze, "verify", "myserver.socket", "myserver.service")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
	svc := unitFile(t, filepath.Join(dir, "myserver.service"))
	sock := unitFile(t, filepath.Join(dir, "myserver.socket"))
	if svc["Type"] != "notify" || svc["KillMode"] != "mixed" || !strings.Contains(svc["ExecReload"], "-USR2 $MAINPID") {
		t.Errorf("the service unit should be Type=notify, KillMode=mixed, ExecReload kill -USR2: %v", svc)
	}

	mgr := newManagerSocket(t)
	waitFor := func(want string) {
		t.Helper()
		if err := mgr.until(func(m managerMessage) bool { return strings.Contains(m.text, want) }); err != nil {
			t.Fatalf("waiting for %s from zedr-run: %v", want, err)
		}
	}

	// ListenStream=PORT with BindIPv6Only=both is what systemd-socket-activate
	// does with -l PORT: [::]:PORT, dual-stack.
	// systemd-socket-activate passes on only the variables it is told to.
	args := append([]string{"-l", sock["ListenStream"], "-E", "NOTIFY_SOCKET=" + mgr.path}, strings.Fields(svc["ExecStart"])...)
	cmd := exec.Command(ssa, args...)
	z := startCmd(t, cmd, false)
	z.waitLog(`Listening on`)
	addr := "127.0.0.1:" + port
	get(t, addr, "/") // wakes the activator, as the first client would
	waitFor("READY=1")
	z.waitLog(`msg=listening fd=3 spec=tcp::` + port + ` .*inherited=true`)

	load := startLoad(t, addr)
	waitRequests(t, load, 200)
	reload := strings.ReplaceAll(svc["ExecReload"], "$MAINPID", strconv.Itoa(cmd.Process.Pid)) // zedr-run has the activator's pid
	for i := 0; i < 3; i++ {
		if out, err := exec.Command("sh", "-c", reload).CombinedOutput(); err != nil {
			t.Fatalf("ExecReload %q: %v\n%s", reload, err, out)
		}
		waitFor("RELOADING=1")
		waitFor("READY=1")
		waitRequests(t, load, 100)
	}
	res := load.Stop()
	t.Logf("the example unit, 3 reloads under load: %v", res)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
	z.signal(syscall.SIGTERM) // what KillMode=mixed sends the main process
	waitFor("STOPPING=1")
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// TestDockerfileExample runs examples/docker/Dockerfile's ENTRYPOINT and CMD
// as a container runtime would: PID 1 of a new PID namespace, in a root
// holding only what the Dockerfile copies (a scratch image).
func TestDockerfileExample(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a new PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	b, err := os.ReadFile(fromRoot("examples/docker/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var entrypoint, command []string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			if err := json.Unmarshal([]byte(v), &entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s: %v", v, err)
			}
		}
		if v, ok := strings.CutPrefix(line, "CMD "); ok {
			if err := json.Unmarshal([]byte(v), &command); err != nil {
				t.Fatalf("CMD %s: %v", v, err)
			}
		}
	}
	if len(entrypoint) == 0 || len(command) == 0 {
		t.Fatal("the Dockerfile has no ENTRYPOINT or CMD in exec form")
	}
	root := scratchRoot(t, map[string]string{"/zedr-run": "zedr-run", "/myserver": "server"})
	port := strings.TrimPrefix(freePort(t), "127.0.0.1:")
	argv := append(append([]string{}, entrypoint...), command...)
	for i := range argv {
		argv[i] = strings.ReplaceAll(argv[i], "8080", port)
	}
	cmd := exec.Command(unshare, append([]string{"--pid", "--fork", "--mount", "--mount-proc", "--root=" + root, "--kill-child"}, argv...)...)
	cmd.Env = []string{}
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	addr := "127.0.0.1:" + port
	load := startLoad(t, addr)
	waitRequests(t, load, 200)
	pid1 := childOf(t, cmd.Process.Pid)
	syscall.Kill(pid1, syscall.SIGUSR2) // docker kill -s USR2
	z.readyPID(2)
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("the Dockerfile's entrypoint as PID 1, a restart under load: %v", res)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
	syscall.Kill(pid1, syscall.SIGTERM) // docker stop
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
