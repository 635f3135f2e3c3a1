package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: A child gets exactly what the protocol says.

// TestHandover checks what a child gets, from the outside (/proc), on a
// child that opens nothing itself: exactly fds 0-2 and the sockets, and
// systemd's variables with LISTEN_PID equal to its own pid.
func TestHandover(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0,name=web", "--listen", "udp:127.0.0.1:0", "--listen", "unix:"+sock,
		"--compat", "einhorn", "--compat", "nginx", "--ready", "delay:100ms", "--", "sleep", "1000")
	pid := z.readyPID(1)

	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fd := range fds {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		got = append(got, fd.Name()+" "+target)
	}
	sort.Strings(got)
	if len(got) != 6 {
		t.Errorf("child has fds %q; want exactly 0, 1, 2 and the three sockets 3, 4, 5", got)
	}
	for _, fd := range got[3:] {
		if !strings.Contains(fd, "socket:") {
			t.Errorf("fd %q is not a socket", fd)
		}
	}

	env := readEnviron(t, pid)
	want := map[string]string{
		"LISTEN_FDS":       "3",
		"LISTEN_PID":       fmt.Sprint(pid),
		"ZEDR_GENERATION":  "1",
		"EINHORN_FD_COUNT": "3",
		"EINHORN_FD_0":     "3",
		"EINHORN_FD_2":     "5",
		"NGINX":            "3;4;5;",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("child's %s=%q, want %q", k, env[k], v)
		}
	}
	if names := strings.Split(env["LISTEN_FDNAMES"], ":"); len(names) != 3 || names[0] != "web" {
		t.Errorf("LISTEN_FDNAMES=%q, want three names starting with web", env["LISTEN_FDNAMES"])
	}
	if ns := env["NOTIFY_SOCKET"]; ns == "" {
		t.Error("child has no NOTIFY_SOCKET")
	} else if fi, err := os.Stat(ns); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("NOTIFY_SOCKET=%s is not a socket: %v", ns, err)
	}
}

// TestOuterEnvironmentNotPassedOn: variables meant for zedr-run itself
// (another activator's LISTEN_*, an outer NOTIFY_SOCKET, zedr-run's options)
// never reach the child.
func TestOuterEnvironmentNotPassedOn(t *testing.T) {
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--", "sleep", "1000")
	cmd.Env = append(os.Environ(), "LISTEN_FDS=7", "LISTEN_PID=1", "LISTEN_FDNAMES=x", "NOTIFY_SOCKET=/outer/notify", "ZEDR_READY=delay:100ms", "KEEP_ME=yes")
	z := startCmd(t, cmd, true)
	env := readEnviron(t, z.readyPID(1))
	if env["LISTEN_FDS"] != "1" || env["NOTIFY_SOCKET"] == "/outer/notify" || env["ZEDR_READY"] != "" || env["LISTEN_FDNAMES"] == "x" {
		t.Errorf("the child sees zedr-run's own environment: LISTEN_FDS=%q LISTEN_FDNAMES=%q NOTIFY_SOCKET=%q ZEDR_READY=%q",
			env["LISTEN_FDS"], env["LISTEN_FDNAMES"], env["NOTIFY_SOCKET"], env["ZEDR_READY"])
	}
	if env["KEEP_ME"] != "yes" {
		t.Error("the rest of the environment did not reach the child")
	}
}

// TestSignalForwarding: signals other than the stop and restart ones reach
// the current child.
func TestSignalForwarding(t *testing.T) {
	dir := t.TempDir()
	got := filepath.Join(dir, "got")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--",
		"sh", "-c", `trap 'echo HUP >> "$0"' HUP; trap 'echo USR1 >> "$0"' USR1; trap 'exit 0' TERM; while :; do sleep 100 & wait $!; done`, got)
	z.readyPID(1)
	z.signal(syscall.SIGHUP)
	waitFile(t, got, "HUP\n")
	z.signal(syscall.SIGUSR1)
	waitFile(t, got, "HUP\nUSR1\n")
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestChildClosesSocket: a child that closes its inherited socket closes
// only its own copy: the next generation gets zedr-run's and serves.
func TestChildClosesSocket(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	writeScript(t, app, "exec 3>&-; exec sleep 1000") // closes fd 3, serves nothing
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--stop-timeout", "1s", "--no-watch", "--", app)
	z.readyPID(1)
	writeScript(t, app, "exec "+bin("testserver"))
	z.signal(syscall.SIGUSR2)
	z.readyPID(2)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=2 ") {
		t.Errorf("after a child closed its socket, the next one answers %q", body)
	}
}
