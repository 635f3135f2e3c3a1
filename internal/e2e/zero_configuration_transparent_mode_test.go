package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
	"zedr-run/wrapper/control"
)

// Guarantee: Zero-configuration transparent mode: with --intercept-bind and
// no --listen, the sockets the first generation binds are adopted and every
// later generation gets them at its own bind(), so that an unmodified server
// restarts with zero downtime without being told its addresses.

// TestAutoGoStatic: TCP and UDP on one port, from a static binary.
func TestAutoGoStatic(t *testing.T) {
	needIntercept(t)
	testAutoTCPAndUDP(t, "127.0.0.1", freePortNum(t), "udp4")
}

// testAutoTCPAndUDP restarts a Go server on host:port, TCP and UDP, with no
// --listen under load, and checks that its UDP socket (udpSpec, the
// family's spec) was adopted once and answers from the last generation.
func testAutoTCPAndUDP(t *testing.T, host string, port int, udpSpec string) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	z := restartUnderLoad(t, interceptCase{
		host:       host,
		port:       port,
		command:    []string{staticTestserver(t), "-listen", addr + ",udp:" + addr},
		path:       "/",
		stopSignal: "TERM",
		auto:       true,
	})
	if n := z.countLog(`msg="socket adopted" gen=1 .*spec=` + udpSpec + `:` + regexp.QuoteMeta(addr)); n != 1 {
		t.Errorf("the UDP socket at %s adopted %d times, want once", addr, n)
	}
	if answer := udpAsk(t, addr, "ping"); !strings.HasPrefix(answer, fmt.Sprintf("generation=%d ", interceptRestarts+1)) {
		t.Errorf("after %d restarts the UDP socket answers %q, want generation %d", interceptRestarts, answer, interceptRestarts+1)
	}
}

func TestAutoNginx(t *testing.T) {
	t.Run("shared socket", func(t *testing.T) { testInterceptNginx(t, true) })
	// With reuseport the master binds a SO_REUSEPORT socket per worker: the
	// first is adopted, and every later bind gets it.
	t.Run("reuseport", func(t *testing.T) { testInterceptNginx(t, true, "reuseport") })
}

func TestAutoCaddy(t *testing.T) { testInterceptCaddy(t, true) }

func TestAutoDnsmasq(t *testing.T) { testInterceptDnsmasq(t, true) }

// TestAutoIPv6: a Go server on [::1], TCP and UDP on one port, adopted and
// restarted under load.
func TestAutoIPv6(t *testing.T) {
	needIntercept(t)
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	testAutoTCPAndUDP(t, "::1", port, "udp6")
}

// TestAutoUnixSocket: a Go server on a unix socket path it binds itself,
// with no --listen. Each old generation's removal of the path is faked, as
// for a declared path; when zedr-run ends, the file goes with it.
func TestAutoUnixSocket(t *testing.T) {
	needIntercept(t)
	path := filepath.Join(t.TempDir(), "app.sock")
	z := startCmd(t, execZedr("--intercept-bind", "--ready", "listen", "--", staticTestserver(t), "-listen", "unix:"+path), false)
	z.readyPID(1)
	z.waitLog(`msg="socket adopted" gen=1 .*spec=unix:` + regexp.QuoteMeta(path))
	cfg := loadConfig(path)
	cfg.Network = "unix"
	load := startLoadWith(t, cfg)
	waitRequests(t, load, 200)
	restartsUnderLoad(t, z, load, 2, interceptRestarts)
	res := stopLoad(t, load, fmt.Sprintf("adopted unix socket: %d restarts under load", interceptRestarts))
	if n := res.Failures[loadgen.Refused]; n != 0 {
		t.Errorf("%d connections refused", n)
	}
	if n := z.countLog(`msg="unlink of a held socket path faked"`); n < interceptRestarts {
		t.Errorf("%d unlink() of the adopted path faked, want one per stopped generation (%d)", n, interceptRestarts)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("after %d restarts the socket path is gone or not a socket: %v", interceptRestarts, err)
	}
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("zedr-run exited %d after SIGTERM", code)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the adopted socket's file outlived zedr-run: %v", err)
	}
}

// TestAutoDroppedPort: a new configuration drops one of two ports. The new
// generation is ready without it (after the settle), the old one drains,
// and then zedr-run closes the dropped socket, says so, and no longer
// lists it; the port it kept never refused a connection.
func TestAutoDroppedPort(t *testing.T) {
	needIntercept(t)
	kept, dropped := freeTCPAddr(t), freeTCPAddr(t)
	dir := t.TempDir()
	app, ctl := filepath.Join(dir, "app"), filepath.Join(dir, "ctl.sock")
	server := staticTestserver(t)
	writeScript(t, app, fmt.Sprintf("exec %s -listen %s,%s", server, kept, dropped))
	z := startCmd(t, execZedr("--intercept-bind", "--ready", "listen", "--no-watch", "--control", ctl, "--", app), false)
	z.readyPID(1)
	z.waitLog(`msg="socket adopted" gen=1 .*spec=tcp4:` + kept)
	z.waitLog(`msg="socket adopted" gen=1 .*spec=tcp4:` + dropped)
	load := startLoad(t, kept)
	waitRequests(t, load, 200)

	writeScript(t, app, fmt.Sprintf("exec %s -listen %s", server, kept))
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	z.waitLog(`msg="generation exited" gen=1 `)
	z.waitLog(`msg="adopted socket closed: no live generation binds it any more" spec=tcp4:` + dropped + ` adopted_by_gen=1 last_bound_by_gen=1 serving_gen=2`)
	waitRequests(t, load, 100)
	stopLoad(t, load, "a restart that drops a port")
	if n := z.countLog(`msg="adopted socket closed`); n != 1 {
		t.Errorf("%d adopted sockets closed, want only the dropped one", n)
	}
	if c, err := net.Dial("tcp", dropped); err == nil {
		c.Close()
		t.Errorf("the dropped port %s still accepts connections", dropped)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial the dropped port: %v, want connection refused", err)
	}
	if body := get(t, kept, "/"); !strings.HasPrefix(body, "generation=2 ") {
		t.Errorf("the kept port answers %q, want generation 2", body)
	}
	st, err := controlStatus(ctl)
	if err != nil {
		t.Fatal(err)
	}
	if got := adoptedAddrs(st); got != kept {
		t.Errorf("status lists the adopted sockets %q, want only %s", got, kept)
	}
	// The table for people: no fd number, the generation that bound it.
	out, err := execZedr("status", "--control", ctl).CombinedOutput()
	if err != nil {
		t.Fatalf("zedr-run status: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^-\s+`+regexp.QuoteMeta(kept)+` \(adopted from gen 1\)\s+tcp4:`+regexp.QuoteMeta(kept)+`$`).Match(out) ||
		strings.Contains(string(out), dropped) {
		t.Errorf("zedr-run status does not list the adopted socket %s alone:\n%s", kept, out)
	}
}

// TestAutoNeverAdopts: a listener on port 0 and a client socket that binds a
// fixed port before connect() (generation 1 only) are left alone: only the
// fixed listener is adopted, and once generation 1 is gone nothing holds
// the client's port.
func TestAutoNeverAdopts(t *testing.T) {
	needIntercept(t)
	fixed, clientFrom := freeTCPAddr(t), freeTCPAddr(t)
	dir := t.TempDir()
	ctl, app := filepath.Join(dir, "ctl.sock"), filepath.Join(dir, "app")
	serve := fmt.Sprintf("%s -listen %s,127.0.0.1:0", staticTestserver(t), fixed)
	writeScript(t, app, fmt.Sprintf(`if [ "$ZEDR_GENERATION" = 1 ]; then exec %s -dial-from %s -drain 1s; fi; exec %s`, serve, clientFrom, serve))
	z := startCmd(t, execZedr("--intercept-bind", "--listen", "auto", "--ready", "listen", "--control", ctl, "--log-level", "debug",
		"--no-watch", "--", app), false)
	z.readyPID(1)
	z.waitLog(`msg="bind runs as asked" gen=1 .*addr=127.0.0.1:0 adoption="never adopted`)
	z.waitLog(`msg="bind runs as asked" gen=1 .*addr=` + clientFrom + ` adoption="adopted if it listens"`)
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	z.waitLog(`msg="generation exited" gen=1 `)
	st, err := controlStatus(ctl)
	if err != nil {
		t.Fatal(err)
	}
	if got := adoptedAddrs(st); got != fixed {
		t.Errorf("status lists the adopted sockets %q, want only %s", got, fixed)
	}
	if n := z.countLog(`msg="socket adopted"`); n != 1 {
		t.Errorf("%d sockets adopted, want only %s", n, fixed)
	}
	// The client's port is the client's: free again once it has gone.
	deadline := time.Now().Add(waitLimit)
	for {
		l, err := net.Listen("tcp4", clientFrom)
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client's port %s stays taken after its generation exited: %v", clientFrom, err)
		}
		time.Sleep(20 * time.Millisecond) // TIME_WAIT of the closed connection may hold it briefly
	}
}

// TestAutoWithDeclared: --listen auto beside a declared socket: the
// declared address is held from the start, the other one adopted, and both
// reach the next generation.
func TestAutoWithDeclared(t *testing.T) {
	needIntercept(t)
	declared, other := freeTCPAddr(t), freeTCPAddr(t)
	z := startZedr(t, "--intercept-bind", "--listen", "tcp:"+declared, "--listen", "auto", "--ready", "listen",
		"--", staticTestserver(t), "-listen", declared+","+other)
	z.readyPID(1)
	z.waitLog(`msg="bind intercepted" gen=1 .*addr=` + declared)
	z.waitLog(`msg="socket adopted" gen=1 .*spec=tcp4:` + other)
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	z.waitLog(`msg="bind intercepted" gen=2 .*addr=` + declared)
	z.waitLog(`msg="bind intercepted" gen=2 .*addr=` + other)
	z.waitLog(`msg="generation exited" gen=1 `)
	for _, addr := range []string{declared, other} {
		if body := get(t, addr, "/"); !strings.HasPrefix(body, "generation=2 ") {
			t.Errorf("%s answers %q, want generation 2", addr, body)
		}
	}
}

// adoptedAddrs lists the addresses of the adopted sockets in a status.
func adoptedAddrs(st control.Status) string {
	var out []string
	for _, s := range st.Sockets {
		if s.AdoptedBy != 0 {
			out = append(out, s.Addr)
		}
	}
	return strings.Join(out, ",")
}

// udpAsk sends msg to the test server's UDP echo at addr and returns its
// answer.
func udpAsk(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1024)
	for range 10 { // a datagram may be lost; ask again
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(buf); err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no answer from %s", addr)
	return ""
}

// TestAutoWorkers: with --workers 2 and no --listen, the first generation's
// workers start together; one socket is adopted and every other worker's
// bind (or listen) gets it; rolling restarts under load lose nothing.
func TestAutoWorkers(t *testing.T) {
	needIntercept(t)
	addr := freeTCPAddr(t)
	z := startCmd(t, execZedr("--intercept-bind", "--workers", "2", "--ready", "listen", "--", staticTestserver(t), "-listen", addr), false)
	z.readyPID(1)
	load := startLoad(t, addr)
	waitRequests(t, load, 200)
	restartsUnderLoad(t, z, load, 2, 3)
	stopLoad(t, load, "2 workers, no --listen: 3 restarts under load")
	if n := z.countLog(`msg="socket adopted"`); n != 1 {
		t.Errorf("%d sockets adopted, want one shared by every worker", n)
	}
	if n := z.countLog(`msg="bind intercepted( at listen\(\)[^"]*)?" gen=\d+ `); n < 2*4-1 {
		t.Errorf("%d binds got the adopted socket, want every worker's but the adopting one's (%d)", n, 2*4-1)
	}
}
