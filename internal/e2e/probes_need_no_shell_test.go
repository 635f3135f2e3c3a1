package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Guarantee: Readiness probes and --check need no shell (a scratch image).

// scratchZedr runs zedr-run with args in a new scratch root holding only
// the static zedr-run, the test server as /server and again as /probe
// (its -get mode is a probe) and /dev/null, as a scratch image's PID 1.
func scratchZedr(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	root := scratchRoot(t, map[string]string{"/zedr-run": "zedr-run", "/server": "server", "/probe": "server"})
	if _, err := os.Stat(root + "/bin/sh"); err == nil {
		t.Fatal("the scratch root has a shell")
	}
	// A container runtime gives even a scratch image /dev/null.
	if err := os.Mkdir(root+"/dev", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(root+"/dev/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, append([]string{"--pid", "--fork", "--mount", "--mount-proc", "--root=" + root, "--kill-child", "/zedr-run"}, args...)...)
	cmd.Env = []string{}
	return cmd
}

// TestScratchExecProbe: in a root with no /bin/sh, `--ready exec:/probe
// ...` runs the probe directly and the generation becomes ready through
// it; a --check in the JSON form runs too, before a restart.
func TestScratchExecProbe(t *testing.T) {
	port := freePortNum(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	cmd := scratchZedr(t, "--listen", fmt.Sprintf("tcp:127.0.0.1:%d", port), "--ready", "exec:/probe -get "+url,
		"--check", fmt.Sprintf(`["/probe", "-get", %q]`, url), "--no-watch", "--", "/server")
	z := startCmd(t, cmd, true)
	z.waitLog(`msg="generation ready" gen=1 .*how="probe exited 0"`)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=1 ") {
		t.Fatalf("server in the scratch root answered %q", body)
	}
	pid1 := childOf(t, cmd.Process.Pid)
	if err := syscall.Kill(pid1, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	z.waitLog(`msg="check passed" command="\[\\"/probe\\", \\"-get\\", `)
	z.waitLog(`msg="generation ready" gen=2 .*how="probe exited 0"`)
	if err := syscall.Kill(pid1, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestScratchShellRefused: with no /bin/sh, a probe or check with shell
// syntax is refused at start with exit 2, saying why, before any child
// starts.
func TestScratchShellRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--ready", "exec:/probe -get http://127.0.0.1:1/ || exit 1"}, `bad --ready "exec:/probe -get http://127.0.0.1:1/ || exit 1": its '|' is shell syntax, and there is no shell to run it (stat /bin/sh: no such file or directory)`},
		{[]string{"--check", "/probe -get $URL"}, `bad --check "/probe -get $URL": its '$' is shell syntax, and there is no shell`},
	} {
		cmd := scratchZedr(t, append(append([]string{"--listen", "tcp:127.0.0.1:0"}, tc.args...), "--", "/server")...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.msg) {
			t.Errorf("zedr-run %q in a root without a shell: %v\n%s\nwant exit 2 and %q", tc.args, err, out, tc.msg)
		}
		if strings.Contains(string(out), "generation started") {
			t.Errorf("a child was started before the refusal:\n%s", out)
		}
	}
}
