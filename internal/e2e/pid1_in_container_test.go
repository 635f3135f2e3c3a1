package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: PID 1 in a container.

// TestPID1 runs zedr-run as PID 1 of a new PID namespace, as in a container:
// it reaps an orphaned grandchild (no zombie left) and, on SIGTERM, exits
// with the child's status.
func TestPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a new PID namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	// The child starts a grandchild and lets its parent exit, so the
	// grandchild is orphaned to PID 1; then it waits for SIGTERM and exits 7.
	child := `sh -c 'sleep 0.3 & exit 0'; trap 'exit 7' TERM; while :; do sleep 100 & wait $!; done`
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "--kill-child",
		bin("zedr-run"), "--log-level", "debug", "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", "sh", "-c", child)
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	z.waitLog(`msg="reaped orphan" pid=\d+ status="exit status 0"`)

	pid1 := childOf(t, cmd.Process.Pid)
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid1)); !strings.Contains(string(b), "NSpid:\t"+strconv.Itoa(pid1)+"\t1\n") {
		t.Fatalf("pid=%d is not PID 1 of its namespace:\n%s", pid1, b)
	}
	if zombies := zombiesOf(pid1); len(zombies) > 0 {
		t.Errorf("zombies left under PID 1: %v", zombies)
	}
	if err := syscall.Kill(pid1, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := z.wait(); code != 7 {
		t.Errorf("unshare exited %d; want 7, the child's status passed on by zedr-run as PID 1", code)
	}
}

// TestScratchImage runs the static zedr-run in a root that holds nothing but
// it and a static server, with /proc mounted (as every container runtime
// does) and no /tmp or /dev: a scratch image.
func TestScratchImage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	root := scratchRoot(t, map[string]string{"/zedr-run": "zedr-run", "/server": "server"})
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount", "--mount-proc", "--root="+root, "--kill-child",
		"/zedr-run", "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--", "/server", "-notify")
	cmd.Env = []string{} // a scratch image has no environment to speak of
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=1 ") {
		t.Fatalf("server in the scratch root answered %q", body)
	}
	pid1 := childOf(t, cmd.Process.Pid)
	if err := syscall.Kill(pid1, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	z.readyPID(2)
	z.waitLog(`msg="generation exited" gen=1 `) // until then it may still answer
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=2 ") {
		t.Fatalf("after a restart the server in the scratch root answered %q", body)
	}
	if err := syscall.Kill(pid1, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// scratchRoot makes an empty root holding the static builds of zedr-run and
// the test server ("zedr-run", "server") at the given paths, and /proc.
func scratchRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for dst, src := range files {
		b, err := os.ReadFile(staticBinary(t, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "proc"), 0o555); err != nil {
		t.Fatal(err)
	}
	return root
}
