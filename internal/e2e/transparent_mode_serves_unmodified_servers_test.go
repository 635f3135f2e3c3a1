package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterceptUnixKeepsPath: a Go server that listens on a unix socket path
// itself, restarted under load. Each old generation removes the path when
// it closes its listener (Go does); zedr-run fakes that unlink(), so the
// path stays and no connection fails.
func TestInterceptUnixKeepsPath(t *testing.T) {
	needIntercept(t)
	path := filepath.Join(t.TempDir(), "app.sock")
	z := startZedr(t, "--intercept-bind", "--listen", "unix:"+path, "--ready", "listen",
		"--", staticTestserver(t), "-listen", "unix:"+path)
	z.readyPID(1)
	cfg := loadConfig(path)
	cfg.Network = "unix"
	load := startLoadWith(t, cfg)
	waitRequests(t, load, 200)
	restartsUnderLoad(t, z, load, 2, interceptRestarts)
	stopLoad(t, load, fmt.Sprintf("unix socket: %d restarts under load", interceptRestarts))
	if n := z.countLog(`msg="unlink of a held socket path faked"`); n < interceptRestarts {
		t.Errorf("%d unlink() of the socket path faked, want one per stopped generation (%d)", n, interceptRestarts)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("after %d restarts the socket path is gone or not a socket: %v", interceptRestarts, err)
	}
}

// TestInterceptUDP: a Go server that binds a UDP socket itself, restarted
// while a client sends one datagram at a time. Datagrams queued on the
// shared socket survive each restart; only one in the hands of a stopping
// generation can be lost.
func TestInterceptUDP(t *testing.T) {
	needIntercept(t)
	addr := freeUDPAddr(t)
	z := startZedr(t, "--intercept-bind", "--listen", "udp:"+addr, "--ready", "listen",
		"--", staticTestserver(t), "-listen", "udp:"+addr)
	z.readyPID(1)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sent, answered := 0, 0
	var last string
	query := func() {
		sent++
		msg := fmt.Sprintf("q%d", sent)
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte(msg)); err != nil {
			return
		}
		buf := make([]byte, 1024)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return // lost
			}
			if strings.HasSuffix(string(buf[:n]), "\n"+msg) {
				answered++
				last = string(buf[:n])
				return
			}
		}
	}
	for range 50 {
		query()
	}
	for i := 1; i <= interceptRestarts; i++ {
		z.signal(syscall.SIGUSR2)
		// Keep querying through the restart until the old generation is gone.
		exited := fmt.Sprintf(`msg="generation exited" gen=%d `, i)
		for z.countLog(exited) == 0 {
			query()
			if sent > 100_000 {
				t.Fatal("the old generation never exited")
			}
		}
		for range 20 {
			query()
		}
	}
	lost := sent - answered
	t.Logf("udp: %d restarts: %d datagrams sent, %d answered, %d lost", interceptRestarts, sent, answered, lost)
	if lost > interceptRestarts {
		t.Errorf("%d datagrams lost in %d restarts: more than the one a stopping generation can hold each time", lost, interceptRestarts)
	}
	if !strings.HasPrefix(last, fmt.Sprintf("generation=%d ", interceptRestarts+1)) {
		t.Errorf("the last answer came from %q, want generation %d", last, interceptRestarts+1)
	}
}

// freeUDPAddr returns a loopback UDP address nobody uses, as freePort does.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// TestInterceptBadInput: transparent mode's options are checked before
// anything starts.
func TestInterceptBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"ready listen without intercept", []string{"--listen", "tcp:127.0.0.1:0", "--ready", "listen", "--", "true"}, "--ready listen: it needs --intercept-bind"},
		{"intercept without listen", []string{"--intercept-bind", "--", "true"}, "--intercept-bind needs at least one --listen"},
		{"intercept with compat", []string{"--intercept-bind", "--listen", "tcp:127.0.0.1:0", "--compat", "nginx", "--", "true"}, "--compat cannot be used with --intercept-bind"},
		{"ready listen with argument", []string{"--intercept-bind", "--listen", "tcp:127.0.0.1:0", "--ready", "listen:3", "--", "true"}, `bad --ready "listen:3"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execZedr(tc.args...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != 2 || !strings.Contains(string(out), tc.msg) {
				t.Errorf("zedr-run %s: exit %d, output %q; want exit 2 and %q", strings.Join(tc.args, " "), code, out, tc.msg)
			}
		})
	}
}

// TestInterceptNoMatch: a bind of an address no --listen declares runs
// normally, and the log says what the server bound, so that the user can
// declare it.
func TestInterceptNoMatch(t *testing.T) {
	needIntercept(t)
	declared, actual := freeTCPAddr(t), freeTCPAddr(t)
	z := startZedr(t, "--intercept-bind", "--listen", "tcp:"+declared, "--ready", "delay:100ms",
		"--", staticTestserver(t), "-listen", actual)
	z.readyPID(1)
	z.waitLog(`msg="bind not intercepted: no --listen matches" gen=1 .*family=inet type=stream .*addr=` + actual)
	z.waitLog(`server: generation=1 .* serving 1 sockets`) // its listen() ran too
	if body := get(t, actual, "/"); !strings.HasPrefix(body, "generation=1 ") {
		t.Errorf("the server on its own socket answers %q", body)
	}
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestInterceptNonblockDisagreement: a deploy that switches from a server
// that wants a blocking socket (python) to one that wants it non-blocking
// (Go) is warned about, and the new generation serves.
func TestInterceptNonblockDisagreement(t *testing.T) {
	needIntercept(t)
	python := needTool(t, "/usr/bin/python3")
	addr := freeTCPAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	writeScript(t, app, fmt.Sprintf("cd %s && exec %s -m http.server --bind %s %s", webRoot(t), python, host, port))
	z := startZedr(t, "--intercept-bind", "--listen", "tcp:"+addr, "--ready", "listen", "--no-watch", "--", app)
	z.readyPID(1)
	writeScript(t, app, fmt.Sprintf("exec %s -listen %s", staticTestserver(t), addr))
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	z.waitLog(`msg="generations disagree on O_NONBLOCK for a shared socket.*gen=2 nonblock=true older_gen=1 older_nonblock=false`)
	z.waitLog(`msg="generation exited" gen=1 `)
	if body := get(t, addr, "/"); !strings.HasPrefix(body, "generation=2 ") {
		t.Errorf("after the switch the server answers %q, want generation 2", body)
	}
}
