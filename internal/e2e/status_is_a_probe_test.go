package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: `zedr-run status` is a probe: it fails exactly when the service should get no traffic.
// (Also testdata/script/probe.txtar.)

// dockerfileExec reads the exec-form (JSON) arguments of the instruction
// that starts with prefix in examples/docker/Dockerfile.
func dockerfileExec(t *testing.T, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile(fromRoot("examples/docker/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		var argv []string
		if err := json.Unmarshal([]byte(line[strings.Index(line, "["):]), &argv); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return argv
	}
	t.Fatalf("the Dockerfile has no %s in exec form", prefix)
	return nil
}

// TestDockerHealthcheck runs the example Dockerfile's ENTRYPOINT and CMD
// as PID 1 of a scratch root, with a --stop-delay added, and its
// HEALTHCHECK command in that root as Docker would: 0 while serving, 3
// during the stop delay after `docker stop`'s SIGTERM, 1 once zedr-run is
// gone.
func TestDockerHealthcheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --root and chroot")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Skip("chroot is not installed")
	}
	health := dockerfileExec(t, "HEALTHCHECK ")
	if i := slices.Index(health, "/zedr-run"); i < 0 {
		t.Fatalf("HEALTHCHECK %q does not run /zedr-run", health)
	}
	root := scratchRoot(t, map[string]string{"/zedr-run": "zedr-run", "/myserver": "server"})
	check := func() int {
		t.Helper()
		out, err := exec.Command(chroot, append([]string{root}, health...)...).CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exit):
			t.Logf("HEALTHCHECK: exit %d: %s", exit.ExitCode(), strings.TrimSpace(string(out)))
			return exit.ExitCode()
		}
		t.Fatalf("HEALTHCHECK: %v", err)
		return -1
	}
	if code := check(); code != 1 {
		t.Fatalf("HEALTHCHECK with no zedr-run running: exit %d, want 1", code)
	}

	port := strings.TrimPrefix(freePort(t), "127.0.0.1:")
	entrypoint := dockerfileExec(t, "ENTRYPOINT ")
	dash := slices.Index(entrypoint, "--")
	argv := append(append(append([]string{}, entrypoint[:dash]...), "--stop-delay", "1h"), entrypoint[dash:]...)
	argv = append(argv, dockerfileExec(t, "CMD ")...)
	for i := range argv {
		argv[i] = strings.ReplaceAll(argv[i], "8080", port)
	}
	cmd := exec.Command(unshare, append([]string{"--pid", "--fork", "--mount", "--mount-proc", "--root=" + root, "--kill-child"}, argv...)...)
	cmd.Env = []string{}
	z := startCmd(t, cmd, true)
	z.readyPID(1)
	if code := check(); code != 0 {
		t.Fatalf("HEALTHCHECK while serving: exit %d, want 0", code)
	}
	pid1 := childOf(t, cmd.Process.Pid)
	syscall.Kill(pid1, syscall.SIGTERM) // docker stop
	z.waitLog(`msg="serving on for the stop delay before stopping"`)
	if code := check(); code != 3 {
		t.Fatalf("HEALTHCHECK during the stop delay: exit %d, want 3", code)
	}
	syscall.Kill(pid1, syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if code := check(); code != 1 {
		t.Fatalf("HEALTHCHECK once zedr-run is gone: exit %d, want 1", code)
	}
}
