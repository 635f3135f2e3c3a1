package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

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

var (
	staticOnce sync.Once
	staticDir  string
	staticErr  error
)

// staticBinary returns the static build (CGO_ENABLED=0, no race detector)
// of "zedr-run" or "server", built once.
func staticBinary(t *testing.T, name string) string {
	t.Helper()
	staticOnce.Do(func() {
		staticDir = filepath.Join(binDir, "static")
		for _, b := range []struct{ out, pkg string }{{"zedr-run", "zedr-run"}, {"server", "zedr-run/testdata/server"}} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(staticDir, b.out), b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				staticErr = fmt.Errorf("static build of %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return filepath.Join(staticDir, name)
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
