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

	"golang.org/x/sys/unix"
)

// Guarantee: Cooperation with systemd.

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

// TestFDStore plays systemd's part for --fdstore: it receives the sockets
// the way systemd's notify socket does (FDSTORE=1, FDNAME=, SCM_RIGHTS),
// keeps them while zedr-run is killed with SIGKILL (a client connecting
// meanwhile waits in the queue), and hands them to a new zedr-run in
// LISTEN_FDS, which adopts them and answers the waiting client.
func TestFDStore(t *testing.T) {
	dir := t.TempDir()
	mgr := newManagerSocket(t)
	uds := filepath.Join(dir, "app.sock")
	args := []string{"--listen", "tcp:127.0.0.1:0,name=web", "--listen", "unix:" + uds + ",name=admin", "--ready", "delay:100ms", "--", bin("testserver")}
	cmd := execZedr(append([]string{"--fdstore"}, args...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+mgr.path)
	z := startCmd(t, cmd, true)

	stored := map[string]*os.File{}
	for len(stored) < 2 {
		m := mgr.next("FDSTORE")
		if len(m.fds) != 1 {
			t.Fatalf("FDSTORE message %q carried %d fds, want 1", m.text, len(m.fds))
		}
		stored[m.fields["FDNAME"]] = m.fds[0]
	}
	if stored["web"] == nil || stored["admin"] == nil {
		t.Fatalf("stored %v, want web and admin", stored)
	}
	if sa, err := unix.Getsockname(int(stored["web"].Fd())); err != nil || fmt.Sprint(sa.(*unix.SockaddrInet4).Port) != z.addr[strings.LastIndexByte(z.addr, ':')+1:] {
		t.Fatalf("stored web socket is bound to %v, want %s", sa, z.addr)
	}
	z.readyPID(1)

	// zedr-run crashes; its child dies with it. The socket lives on in the
	// store, so a client is queued, not refused.
	z.signal(syscall.SIGKILL)
	z.wait()
	waiting := make(chan string, 1)
	go func() { waiting <- httpGet(t, z.addr, "/") }()

	// The service manager starts zedr-run again with the stored sockets.
	restart := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$@"`, "sh", bin("zedr-run")}, args...)...)
	restart.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=web:admin")
	restart.ExtraFiles = []*os.File{stored["web"], stored["admin"]}
	z2 := startCmd(t, restart, true)
	z2.waitLog(`msg=listening fd=3 spec="tcp:127.0.0.1:0,name=web" addr=` + z.addr + ` .*inherited=true`)
	z2.waitLog(`msg=listening fd=4 spec="unix:` + uds + `,name=admin" .*inherited=true`)
	select {
	case body := <-waiting:
		if !strings.HasPrefix(body, "generation=1 ") {
			t.Errorf("the client queued across the crash got %q", body)
		}
	case <-time.After(waitLimit):
		t.Fatal("the client queued across the crash got no answer")
	}
}

// TestTypeNotify runs zedr-run as a Type=notify service would: with a
// NOTIFY_SOCKET of its own, read here as systemd reads it. zedr-run reports
// READY=1 once the first generation is ready, RELOADING=1 then READY=1
// around a restart (and after a rollback), and STOPPING=1.
func TestTypeNotify(t *testing.T) {
	dir := t.TempDir()
	mgr := newManagerSocket(t)
	next := func(want ...string) string {
		t.Helper()
		var msg string
		err := mgr.until(func(m managerMessage) bool {
			msg = m.text
			return strings.Contains(msg, want[0]) // skipping STATUS= updates in between
		})
		if err != nil {
			t.Fatalf("waiting for a message with %q: %v", want, err)
		}
		for _, w := range want[1:] {
			if !strings.Contains(msg, w) {
				t.Errorf("message %q lacks %q", msg, w)
			}
		}
		return msg
	}

	app := filepath.Join(dir, "app")
	writeScript(t, app, "exec "+bin("testserver"))
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--no-watch", "--", app)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+mgr.path)
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	next("READY=1", "STATUS=serving: generation 1")
	// The child has zedr-run's own NOTIFY_SOCKET, not this one.
	if env := readEnviron(t, z.readyPID(1)); env["NOTIFY_SOCKET"] == mgr.path {
		t.Error("the child got zedr-run's outer NOTIFY_SOCKET")
	}

	z.signal(syscall.SIGUSR2)
	next("RELOADING=1", "MONOTONIC_USEC=")
	next("READY=1", "STATUS=serving: generation 2")

	writeScript(t, app, "exit 3")
	z.signal(syscall.SIGUSR2)
	next("RELOADING=1")
	next("READY=1", "generation 3 rolled back")

	z.signal(syscall.SIGTERM)
	next("STOPPING=1")
	z.wait()
}
