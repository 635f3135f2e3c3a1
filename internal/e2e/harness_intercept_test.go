package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"zedr-run/internal/loadgen"
	"zedr-run/internal/seccomp"
)

// The transparent-mode tests run real, unmodified servers that bind their
// own sockets, and restart each of them under load.

const interceptRestarts = 10

// staticTestserver is the test server built statically (CGO_ENABLED=0, no
// race detector): transparent mode must work where LD_PRELOAD cannot reach.
func staticTestserver(t *testing.T) string { return staticBinary(t, "server") }

func needIntercept(t *testing.T) {
	t.Helper()
	if err := seccomp.Check(); err != nil {
		t.Skip(err)
	}
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (scripts/install-test-deps.sh installs it)", name)
	}
	return p
}

// freePortNum returns a port nobody listens on: the kernel picks it for a
// socket that is closed at once. The server under test must be told the
// port before zedr-run opens it, which is why 127.0.0.1:0 cannot be used.
func freePortNum(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// webRoot makes a directory with a small index.html for file servers.
func webRoot(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello from the web root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type interceptCase struct {
	port       int
	command    []string
	dir        string // the server's working directory, "" for the test's
	path       string // what the load requests
	stopSignal string // graceful stop for this server
	// graceless: the server has no graceful stop, so the requests it has
	// in hand when it is stopped fail (never more than the load's workers
	// per restart); connections waiting in the shared queue are not lost.
	graceless bool
}

// restartUnderLoad starts c under zedr-run --intercept-bind, restarts it
// interceptRestarts times under load and checks the failures.
func restartUnderLoad(t *testing.T, c interceptCase) *zedr {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(c.port)
	args := []string{"--intercept-bind", "--listen", "tcp:" + addr, "--ready", "listen", "--stop-signal", c.stopSignal, "--"}
	cmd := execZedr(append(args, c.command...)...)
	cmd.Dir = c.dir
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	z.waitLog(`msg="bind intercepted" gen=1 .*addr=` + addr)
	cfg := loadConfig(addr)
	cfg.Path = c.path
	load := startLoadWith(t, cfg)
	waitRequests(t, load, 200)
	restartsUnderLoad(t, z, load, 2, interceptRestarts)
	res := load.Stop()
	t.Logf("%s: %d restarts under load: %v", filepath.Base(c.command[0]), interceptRestarts, res)
	if res.OK == 0 {
		t.Fatal("no request succeeded")
	}
	if n := res.Failures[loadgen.Refused]; n != 0 {
		t.Errorf("%d connections refused during %d restarts; the held socket should never refuse", n, interceptRestarts)
	}
	switch {
	case !c.graceless && res.Failed() != 0:
		t.Errorf("%d requests failed during %d restarts: %v; examples: %q", res.Failed(), interceptRestarts, res.Failures, res.Errors)
	case c.graceless:
		limit := cfg.Concurrency * interceptRestarts
		t.Logf("%d requests failed: the server has no graceful stop, so a stopped generation drops the requests it "+
			"had accepted and not answered (at most %d workers x %d restarts = %d); examples: %q",
			res.Failed(), cfg.Concurrency, interceptRestarts, limit, res.Errors)
		if res.Failed() > limit {
			t.Errorf("%d requests failed, more than the %d that can be in flight", res.Failed(), limit)
		}
	}
	if n := z.countLog(`msg="bind not intercepted".*addr=` + addr); n != 0 {
		t.Errorf("%d binds of %s were not intercepted", n, addr)
	}
	return z
}

func TestInterceptGoStatic(t *testing.T) {
	needIntercept(t)
	port := freePortNum(t)
	z := restartUnderLoad(t, interceptCase{
		port:       port,
		command:    []string{staticTestserver(t), "-listen", "127.0.0.1:" + strconv.Itoa(port)},
		path:       "/",
		stopSignal: "TERM",
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if body := get(t, addr, "/"); !strings.HasPrefix(body, fmt.Sprintf("generation=%d ", interceptRestarts+1)) {
		t.Errorf("after %d restarts the server answers %q, want generation %d", interceptRestarts, body, interceptRestarts+1)
	}
	// No LISTEN_* and no extra fd: the socket came through the child's bind.
	if env := httpGet(t, addr, "/env"); strings.Contains(env, "LISTEN_") {
		t.Errorf("a child in transparent mode got socket-activation variables:\n%s", env)
	}
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("zedr-run exited %d after SIGTERM, want 0", code)
	}
}

func TestInterceptPython(t *testing.T) {
	needIntercept(t)
	python := needTool(t, "/usr/bin/python3")
	port := freePortNum(t)
	restartUnderLoad(t, interceptCase{
		port:       port,
		command:    []string{python, "-m", "http.server", "--bind", "127.0.0.1", strconv.Itoa(port)},
		dir:        webRoot(t),
		path:       "/index.html",
		stopSignal: "TERM",
		graceless:  true,
	})
}

func TestInterceptBusybox(t *testing.T) {
	needIntercept(t)
	busybox := needTool(t, "busybox")
	port := freePortNum(t)
	restartUnderLoad(t, interceptCase{
		port:       port,
		command:    []string{busybox, "httpd", "-f", "-p", "127.0.0.1:" + strconv.Itoa(port), "-h", webRoot(t)},
		path:       "/index.html",
		stopSignal: "TERM",
		graceless:  true,
	})
}

func TestInterceptNginx(t *testing.T) {
	t.Run("shared socket", func(t *testing.T) { testInterceptNginx(t) })
	// With reuseport each worker binds its own SO_REUSEPORT socket: every
	// one of those binds must still get the shared socket.
	t.Run("reuseport", func(t *testing.T) { testInterceptNginx(t, "reuseport") })
}

func testInterceptNginx(t *testing.T, listenOpts ...string) {
	needIntercept(t)
	nginx := needTool(t, "nginx")
	port := freePortNum(t)
	conf, errLog := nginxConf(t, port, listenOpts...)
	// QUIT is nginx's graceful shutdown (TERM is its fast one).
	z := restartUnderLoad(t, interceptCase{
		port:       port,
		command:    []string{nginx, "-c", conf, "-e", errLog},
		path:       "/index.html",
		stopSignal: "QUIT",
	})
	if len(listenOpts) > 0 {
		// One SO_REUSEPORT socket per worker, each bound by the master.
		if n := z.countLog(`msg="bind intercepted" gen=1 `); n < 2 {
			t.Errorf("nginx with reuseport made %d intercepted binds, want one per worker (2)", n)
		}
	}
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("zedr-run exited %d after SIGTERM, want 0", code)
	}
}

// TestInterceptKill9NginxTree: zedr-run killed with SIGKILL takes the whole
// tree with it, nginx's workers included (the parent-death signal reaches
// only the master; the guard process kills the rest), and nothing is left
// listening.
func TestInterceptKill9NginxTree(t *testing.T) {
	needIntercept(t)
	nginx := needTool(t, "nginx")
	port := freePortNum(t)
	conf, errLog := nginxConf(t, port)
	z := startZedr(t, "--intercept-bind", "--listen", "tcp:127.0.0.1:"+strconv.Itoa(port), "--ready", "listen",
		"--", nginx, "-c", conf, "-e", errLog)
	master := z.readyPID(1)
	workers := childrenOf(t, master)
	if len(workers) < 2 {
		t.Fatalf("nginx master pid=%d has workers %v, want 2", master, workers)
	}
	z.signal(syscall.SIGKILL)
	z.wait()
	waitGone(t, master)
	for _, w := range workers {
		waitGone(t, w)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if out, err := exec.Command("ss", "-Hltn", "src", addr).Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		t.Errorf("something still listens on %s after zedr-run was killed:\n%s", addr, out)
	}
}

// nginxConf writes a configuration for nginx in the foreground with two
// workers, every path in a temporary directory, serving a web root on
// 127.0.0.1:port. It returns the config and error log paths.
func nginxConf(t *testing.T, port int, listenOpts ...string) (conf, errLog string) {
	t.Helper()
	dir := t.TempDir()
	conf, errLog = filepath.Join(dir, "nginx.conf"), filepath.Join(dir, "error.log")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
master_process on;
user root;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d%[4]s;
		root %[3]s;
	}
}
`, dir, port, webRoot(t), strings.Join(append([]string{""}, listenOpts...), " "))), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return conf, errLog
}

func TestInterceptCaddy(t *testing.T) {
	needIntercept(t)
	caddy := needTool(t, "caddy")
	port := freePortNum(t)
	// file-server runs with the admin endpoint off, so that two generations
	// do not both need its fixed port.
	restartUnderLoad(t, interceptCase{
		port:       port,
		command:    []string{caddy, "file-server", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--root", webRoot(t)},
		path:       "/index.html",
		stopSignal: "TERM",
	})
}
