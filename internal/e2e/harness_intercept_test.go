package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"zedr-run/internal/loadgen"
	"zedr-run/internal/realservers"
	"zedr-run/internal/seccomp"
)

// Running unmodified servers in transparent mode (--intercept-bind).

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
	root, err := realservers.WebRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return root
}

type interceptCase struct {
	host       string // the address the server binds, "" for 127.0.0.1
	port       int
	command    []string
	dir        string // the server's working directory, "" for the test's
	path       string // what the load requests
	stopSignal string // graceful stop for this server
	// graceless: the server has no graceful stop, so the requests it has
	// in hand when it is stopped fail (never more than the load's workers
	// per restart); connections waiting in the shared queue are not lost.
	graceless bool
	restarts  int // 0: interceptRestarts
	// raced: requests a restart may fail all the same through a race of
	// the server's own graceful stop (at most this many per restart).
	raced int
	// auto: no --listen; zedr-run adopts what the first generation binds.
	auto bool
}

// restartUnderLoad starts c under zedr-run --intercept-bind, restarts it
// c.restarts times under load and checks the failures.
func restartUnderLoad(t *testing.T, c interceptCase) *zedr {
	t.Helper()
	restarts := c.restarts
	if restarts == 0 {
		restarts = interceptRestarts
	}
	host := c.host
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(c.port))
	ctl := filepath.Join(t.TempDir(), "ctl.sock")
	args := []string{"--intercept-bind", "--listen", "tcp:" + addr, "--ready", "listen", "--stop-signal", c.stopSignal, "--control", ctl, "--"}
	if c.auto {
		args = slices.Delete(args, 1, 3)
	}
	cmd := execZedr(append(args, c.command...)...)
	cmd.Dir = c.dir
	z := startCmd(t, cmd, !c.auto)
	z.readyPID(1)
	if c.auto {
		z.waitLog(`msg="socket adopted" gen=1 .*addr=` + regexp.QuoteMeta(addr))
	} else {
		z.waitLog(`msg="bind intercepted" gen=1 .*addr=` + regexp.QuoteMeta(addr))
	}
	cfg := loadConfig(addr)
	cfg.Path = c.path
	load := startLoadWith(t, cfg)
	waitRequests(t, load, 200)
	restartsUnderLoad(t, z, load, 2, restarts)
	res := load.Stop()
	t.Logf("%s: %d restarts under load: %v", filepath.Base(c.command[0]), restarts, res)
	if res.OK == 0 {
		t.Fatal("no request succeeded")
	}
	if n := res.Failures[loadgen.Refused]; n != 0 {
		t.Errorf("%d connections refused during %d restarts; the held socket should never refuse", n, restarts)
	}
	switch {
	case c.raced > 0:
		t.Logf("%d requests failed (the server's own race, at most %d per restart); examples: %q", res.Failed(), c.raced, res.Errors)
		if res.Failed() > c.raced*restarts {
			t.Errorf("%d requests failed during %d restarts, more than %d per restart: %v; examples: %q",
				res.Failed(), restarts, c.raced, res.Failures, res.Errors)
		}
	case !c.graceless && res.Failed() != 0:
		t.Errorf("%d requests failed during %d restarts: %v; examples: %q", res.Failed(), restarts, res.Failures, res.Errors)
	case c.graceless:
		limit := cfg.Concurrency * restarts
		t.Logf("%d requests failed: the server has no graceful stop, so a stopped generation drops the requests it "+
			"had accepted and not answered (at most %d workers x %d restarts = %d); examples: %q",
			res.Failed(), cfg.Concurrency, restarts, limit, res.Errors)
		if res.Failed() > limit {
			t.Errorf("%d requests failed, more than the %d that can be in flight", res.Failed(), limit)
		}
	}
	if n := z.countLog(`msg="bind not intercepted".*addr=` + regexp.QuoteMeta(addr)); n != 0 {
		t.Errorf("%d binds of %s were not intercepted", n, addr)
	}
	if c.auto {
		checkAdopted(t, z, ctl, addr, restarts)
	}
	return z
}

func testInterceptNginx(t *testing.T, auto bool, listenOpts ...string) {
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
		auto:       auto,
	})
	if len(listenOpts) > 0 {
		// One SO_REUSEPORT socket per worker, each bound by the master.
		if n := z.countLog(`msg="(bind intercepted|socket adopted)" gen=1 `); n < 2 {
			t.Errorf("nginx with reuseport made %d intercepted binds, want one per worker (2)", n)
		}
	}
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("zedr-run exited %d after SIGTERM, want 0", code)
	}
}

// nginxConf writes a configuration for nginx in the foreground with two
// workers, every path in a temporary directory, serving a web root on
// 127.0.0.1:port. It returns the config and error log paths.
func nginxConf(t *testing.T, port int, listenOpts ...string) (conf, errLog string) {
	t.Helper()
	dir := t.TempDir()
	conf, errLog = filepath.Join(dir, "nginx.conf"), filepath.Join(dir, "error.log")
	err := os.WriteFile(conf, []byte(realservers.NginxConf(dir, port, webRoot(t), listenOpts...)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return conf, errLog
}

// checkAdopted checks that generation 1 adopted the TCP socket at addr, that
// each of the restarts generations after it got it at its bind, and that
// status lists it.
func checkAdopted(t *testing.T, z *zedr, ctl, addr string, restarts int) {
	t.Helper()
	if n := z.countLog(`msg="socket adopted" gen=1 .*spec=tcp[46]:` + regexp.QuoteMeta(addr)); n != 1 {
		t.Errorf("gen 1's TCP socket at %s adopted %d times, want once", addr, n)
	}
	for gen := 2; gen <= restarts+1; gen++ {
		if z.countLog(fmt.Sprintf(`msg="bind intercepted" gen=%d .*addr=%s`, gen, regexp.QuoteMeta(addr))) == 0 {
			t.Errorf("gen %d's bind of %s did not get the adopted socket", gen, addr)
		}
	}
	st, err := controlStatus(ctl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range st.Sockets {
		found = found || (s.AdoptedBy == 1 && s.Addr == addr && strings.HasPrefix(s.Spec, "tcp"))
	}
	if !found {
		t.Errorf("status does not list the socket adopted at %s: %+v", addr, st.Sockets)
	}
}
