package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTypeNotify runs zedr-run as a Type=notify service would: with a
// NOTIFY_SOCKET of its own, read here as systemd reads it. zedr-run reports
// READY=1 once the first generation is ready, RELOADING=1 then READY=1
// around a restart (and after a rollback), and STOPPING=1.
func TestTypeNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	next := func(want ...string) string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(waitLimit))
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for a message with %q: %v", want, err)
			}
			msg := string(buf[:n])
			if !strings.Contains(msg, want[0]) {
				continue // STATUS= updates in between
			}
			for _, w := range want[1:] {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			return msg
		}
	}

	app := filepath.Join(dir, "app")
	writeScript(t, app, "exec "+bin("testserver"))
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--no-watch", "--", app)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	next("READY=1", "STATUS=serving: generation 1")
	// The child has zedr-run's own NOTIFY_SOCKET, not this one.
	if env := readEnviron(t, z.readyPID(1)); env["NOTIFY_SOCKET"] == sock {
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
