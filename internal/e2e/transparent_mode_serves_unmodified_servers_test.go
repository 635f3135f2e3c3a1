package e2e

import (
	"bytes"
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
	"time"
)

// Guarantee: Transparent mode serves unmodified servers.
//
// The transparent-mode tests run real, unmodified servers that bind their
// own sockets, and restart each of them under load.

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
	t.Run("shared socket", func(t *testing.T) { testInterceptNginx(t, false) })
	// With reuseport each worker binds its own SO_REUSEPORT socket: every
	// one of those binds must still get the shared socket.
	t.Run("reuseport", func(t *testing.T) { testInterceptNginx(t, false, "reuseport") })
}

func TestInterceptCaddy(t *testing.T) { testInterceptCaddy(t, false) }

func testInterceptCaddy(t *testing.T, auto bool) {
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
		auto:       auto,
	})
}

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
// (Go) leaves the shared socket as the holder set it, says so, and the new
// generation serves (Go's accept then blocks a thread).
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
	z.waitLog(`msg="shared socket keeps the O_NONBLOCK flag of the generation that holds it.*gen=2 nonblock_wanted=true nonblock=false held_by_gen=1`)
	z.waitLog(`msg="generation exited" gen=1 `)
	if body := get(t, addr, "/"); !strings.HasPrefix(body, "generation=2 ") {
		t.Errorf("after the switch the server answers %q, want generation 2", body)
	}
}

// TestInterceptDnsmasq: dnsmasq binds UDP and TCP on one port itself; it is
// restarted 10 times while dnsperf sends it 1000 queries a second. A query
// is lost only if a stopping generation had read it and not yet answered.
func TestInterceptDnsmasq(t *testing.T) { testInterceptDnsmasq(t, false) }

// testInterceptDnsmasq runs TestInterceptDnsmasq; with auto, with no
// --listen: zedr-run adopts both of dnsmasq's sockets.
func testInterceptDnsmasq(t *testing.T, auto bool) {
	needIntercept(t)
	dnsmasq := needTool(t, "dnsmasq")
	dnsperf := needTool(t, "dnsperf")
	addr := freeTCPUDPAddr(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--intercept-bind", "--listen", "udp:" + addr, "--listen", "tcp:" + addr, "--ready", "listen",
		"--", dnsmasq, "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address=" + host, "--port=" + port, "--address=/zedr.test/192.0.2.1",
		"--user=root", "--group=root", "--pid-file="}
	if auto {
		args = slices.Delete(args, 1, 5)
	}
	z := startCmd(t, execZedr(args...), !auto)
	z.readyPID(1)
	if auto {
		z.waitLog(`msg="socket adopted" gen=1 .*spec=udp4:` + addr)
		z.waitLog(`msg="socket adopted" gen=1 .*spec=tcp4:` + addr)
	} else {
		z.waitLog(`msg="bind intercepted" gen=1 .*spec=udp:`)
		z.waitLog(`msg="bind intercepted" gen=1 .*spec=tcp:`)
	}

	queries := filepath.Join(t.TempDir(), "queries")
	if err := os.WriteFile(queries, []byte("www.zedr.test A\nmail.zedr.test A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	perf := exec.Command(dnsperf, "-s", host, "-p", port, "-d", queries, "-l", "300", "-Q", "1000", "-t", "2")
	perf.Stdout, perf.Stderr = &out, &out
	if err := perf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { perf.Process.Kill(); perf.Wait() })
	for i := 1; i <= interceptRestarts; i++ {
		z.signal(syscall.SIGUSR2)
		z.readyPID(i + 1)
		z.waitLog(fmt.Sprintf(`msg="generation exited" gen=%d `, i))
	}
	perf.Process.Signal(syscall.SIGINT) // dnsperf prints its statistics
	perf.Wait()
	sent, lost := dnsperfCount(out.String(), "sent"), dnsperfCount(out.String(), "lost")
	t.Logf("dnsmasq: %d restarts under dnsperf: %d queries sent, %d completed, %d lost, %d interrupted (in flight when dnsperf stopped)",
		interceptRestarts, sent, dnsperfCount(out.String(), "completed"), lost, max(0, dnsperfCount(out.String(), "interrupted")))
	if sent < 100 {
		t.Fatalf("dnsperf sent %d queries:\n%s", sent, out.String())
	}
	if lost > interceptRestarts {
		t.Errorf("%d queries lost in %d restarts, more than one in flight per stopped generation:\n%s", lost, interceptRestarts, out.String())
	}
	if auto {
		for gen := 2; gen <= interceptRestarts+1; gen++ {
			if n := z.countLog(fmt.Sprintf(`msg="bind intercepted" gen=%d .*addr=%s`, gen, addr)); n != 2 {
				t.Errorf("gen %d got %d of the 2 adopted sockets at its bind()", gen, n)
			}
		}
	}
}

// dnsperfCount reads "Queries WHAT: N" from dnsperf's statistics, -1 if absent.
func dnsperfCount(out, what string) int {
	m := regexp.MustCompile(`Queries ` + what + `:\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// freeTCPUDPAddr returns a loopback address whose port is free for both TCP
// and UDP.
func freeTCPUDPAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		pc, err := net.ListenPacket("udp4", addr)
		l.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}
