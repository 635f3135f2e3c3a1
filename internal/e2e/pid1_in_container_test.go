package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

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

// childOf returns the only child of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("pid=%d has children %q, want one", pid, f)
	}
	c, _ := strconv.Atoi(f[0])
	return c
}

// zombiesOf lists the zombie children of pid.
func zombiesOf(pid int) []int {
	var zs []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			zs = append(zs, p)
		}
	}
	return zs
}
