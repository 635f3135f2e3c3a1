package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: Unprivileged children.

// freeLowPort finds a free privileged port on 127.0.0.1.
func freeLowPort(t *testing.T) int {
	t.Helper()
	for p := 900; p < 1000; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Skip("no free port in 900-999 on 127.0.0.1")
	return 0
}

// procStatus reads the Uid, Gid and Groups lines of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out
}

// TestUserNobody: zedr-run, as root, binds a port below 1024 and a unix
// socket with mode= and owner=, and serves them from children running as
// nobody with nobody's groups only; readiness by notify proves the user can
// reach NOTIFY_SOCKET; a restart under load fails no request.
func TestUserNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// The binaries must be reachable by nobody.
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freeLowPort(t)
	sockDir := t.TempDir()
	os.Chmod(sockDir, 0o755)
	sock := filepath.Join(sockDir, "app.sock")
	z := startZedr(t, "--listen", fmt.Sprintf("tcp:127.0.0.1:%d", port), "--listen", "unix:"+sock+",mode=0660,owner=nobody:nogroup",
		"--user", "nobody", "--workers", "2", "--ready", "notify", "--", bin("testserver"), "-notify")
	pids := z.workerPIDs(1)
	for _, pid := range pids {
		st := procStatus(t, pid)
		t.Logf("worker pid=%d: Uid: %s, Gid: %s, Groups: %s", pid, st["Uid"], st["Gid"], st["Groups"])
		if st["Uid"] != "65534 65534 65534 65534" || st["Gid"] != "65534 65534 65534 65534" || st["Groups"] != "65534" {
			t.Errorf("worker pid=%d runs with Uid %q Gid %q Groups %q, want nobody (65534) and only nogroup", pid, st["Uid"], st["Gid"], st["Groups"])
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, want := range []string{"USER=nobody", "LOGNAME=nobody", "HOME="} {
			if !strings.Contains("\x00"+string(env), "\x00"+want) {
				t.Errorf("worker pid=%d has no %s in its environment", pid, want)
			}
		}
	}
	var fi syscall.Stat_t
	if err := syscall.Stat(sock, &fi); err != nil {
		t.Fatal(err)
	}
	if fi.Mode&0o7777 != 0o660 || fi.Uid != 65534 || fi.Gid != 65534 {
		t.Errorf("%s has mode %o uid %d gid %d, want 0660 nobody:nogroup", sock, fi.Mode&0o7777, fi.Uid, fi.Gid)
	}

	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	z.signal(syscall.SIGUSR2)
	for _, pid := range z.workerPIDs(2) {
		if st := procStatus(t, pid); st["Uid"] != "65534 65534 65534 65534" {
			t.Errorf("after the restart worker pid=%d runs with Uid %q", pid, st["Uid"])
		}
	}
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("restart of children running as nobody on 127.0.0.1:%d under load: %v", port, res)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v; examples: %q", res.Failed(), res.Failures, res.Errors)
	}
	if !strings.HasPrefix(get(t, z.addr, "/"), "generation=2 ") {
		t.Errorf("after the restart the server does not answer as generation 2")
	}
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestUserNeedsRoot: --user from a zedr-run that is not root is refused
// before anything starts.
func TestUserNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start zedr-run as another user")
	}
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--user", "nobody", "--", bin("testserver"))
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "--user needs zedr-run to run as root") {
		t.Errorf("zedr-run --user as nobody: exit %d, output %q; want exit 2 and why", code, out)
	}
}
