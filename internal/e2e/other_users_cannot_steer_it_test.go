package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Guarantee: Other users cannot steer it.

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
