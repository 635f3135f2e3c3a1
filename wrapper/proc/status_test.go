package proc

import (
	"os/exec"
	"syscall"
	"testing"
)

// TestExitCodeAndDescribe: a real exit status and a real death by signal,
// as a shell would show them.
func TestExitCodeAndDescribe(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   int
		text   string
	}{
		{"exit 3", 3, "exit status 3"},
		{"kill -TERM $$", 128 + int(syscall.SIGTERM), "killed by SIGTERM"},
	} {
		err := exec.Command("sh", "-c", tc.script).Run()
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", tc.script, err)
		}
		ws := ee.Sys().(syscall.WaitStatus)
		if got := ExitCode(ws); got != tc.code {
			t.Errorf("%s: ExitCode = %d, want %d", tc.script, got, tc.code)
		}
		if got := Describe(ws); got != tc.text {
			t.Errorf("%s: Describe = %q, want %q", tc.script, got, tc.text)
		}
	}
}
