package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotifyRefusesOtherUsers: another user cannot make a starting
// generation ready through the children's NOTIFY_SOCKET.
func TestNotifyRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as another user")
	}
	setpriv, err1 := exec.LookPath("setpriv")
	notify, err2 := exec.LookPath("systemd-notify")
	if err1 != nil || err2 != nil {
		t.Skip("needs setpriv (util-linux) and systemd-notify (systemd)")
	}
	app := filepath.Join(t.TempDir(), "app")
	writeScript(t, app, "exec "+bin("testserver")+" -notify")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--ready-timeout", "5s", "--no-watch", "--", app)
	z.readyPID(1)
	writeScript(t, app, "exec "+bin("testserver")+" -mode never-ready")
	z.signal(sigUSR2)
	m := z.waitLog(`msg="generation started" gen=2 pid=(\d+)`)
	pid := atoi(t, m[1])
	sock := readEnviron(t, pid)["NOTIFY_SOCKET"]
	out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "env", "NOTIFY_SOCKET="+sock, notify, "--ready").CombinedOutput()
	if err == nil {
		t.Errorf("uid 65534 could send to the notify socket %s: %s", sock, out)
	}
	t.Logf("uid 65534 sending READY=1 to %s: %v %s", sock, err, strings.TrimSpace(string(out)))
	z.waitLog(`msg="generation rolled back" gen=2 .*not ready after 5s`)
	if z.countLog(`msg="generation ready" gen=2 `) != 0 {
		t.Error("another user made generation 2 ready")
	}
}

// TestPidFileDiskFull: a pid file that cannot be written (a full file
// system) is a startup failure with the reason, and nothing is started.
func TestPidFileDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small file system")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	dir := t.TempDir()
	script := `mount -t tmpfs -o size=16k tmpfs "$0" && (dd if=/dev/zero of="$0/fill" bs=4k count=100 2>/dev/null; true) && exec "$@"`
	cmd := exec.Command(unshare, "--mount", "sh", "-c", script, dir, bin("zedr-run"), "--pid-file", filepath.Join(dir, "zedr-run.pid"), "--listen", "tcp:127.0.0.1:0", "--", bin("testserver"))
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		cmd.Process.Kill()
		t.Fatal("zedr-run with a pid file on a full disk did not exit")
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "no space left on device") {
		t.Errorf("exit %d, output:\n%s\nwant exit 1 and the reason (no space left on device)", code, out)
	}
	if strings.Contains(string(out), "generation started") {
		t.Errorf("a child was started although the pid file could not be written:\n%s", out)
	}
}
