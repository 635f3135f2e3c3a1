package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// systemdSocketActivate finds Debian's systemd-socket-activate, the outer
// activator in these tests.
func systemdSocketActivate(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-socket-activate is not installed; scripts/install-test-deps.sh should have installed systemd")
		}
		t.Skip("systemd-socket-activate (Debian's systemd) is not installed")
	}
	return path
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestSocketActivated: zedr-run started by systemd-socket-activate adopts the
// socket it was handed for its matching --listen spec, and restarts under
// load lose nothing.
func TestSocketActivated(t *testing.T) {
	ssa := systemdSocketActivate(t)
	addr := freePort(t)
	cmd := exec.Command(ssa, "-l", addr, bin("zedr-run"), "--listen", "tcp:"+addr, "--ready", "delay:100ms", "--", bin("testserver"))
	z := startCmd(t, cmd, false)
	z.waitLog(`Listening on ` + addr)
	// systemd-socket-activate execs zedr-run on the first connection, which
	// waits in the socket's queue meanwhile.
	if body := get(t, addr, "/"); !strings.HasPrefix(body, "generation=1 ") {
		t.Fatalf("first request answered %q", body)
	}
	z.waitLog(`msg=listening fd=3 spec=tcp:` + addr + ` addr=` + addr + ` .*inherited=true`)
	load := startLoad(t, addr)
	waitRequests(t, load, 200)
	const restarts = 10
	restartsUnderLoad(t, z, load, 2, restarts)
	stopLoad(t, load, fmt.Sprintf("socket-activated zedr-run, %d restarts under load", restarts))
}

// TestInheritedPassedOn: sockets zedr-run inherits but no --listen asks for
// are handed to the child as they are, with their names.
func TestInheritedPassedOn(t *testing.T) {
	ssa := systemdSocketActivate(t)
	web, api := freePort(t), freePort(t)
	cmd := exec.Command(ssa, "-l", web, "-l", api, "--fdname=web:api", bin("zedr-run"), "--ready", "delay:100ms", "--", "sleep", "1000")
	z := startCmd(t, cmd, false)
	z.waitLogN(`Listening on `, 2)
	conn, err := net.Dial("tcp", web) // wakes systemd-socket-activate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := readEnviron(t, z.readyPID(1))
	if env["LISTEN_FDS"] != "2" || env["LISTEN_FDNAMES"] != "web:api" {
		t.Errorf("child got LISTEN_FDS=%q LISTEN_FDNAMES=%q, want 2 and web:api", env["LISTEN_FDS"], env["LISTEN_FDNAMES"])
	}
}
