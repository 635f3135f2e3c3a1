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

	"zedr-run/wrapper/control"
)

// Guarantee: Mass exits: hundreds of children exiting at once, or a --rollout all
// restart of hundreds, never stall the supervisor; nor does a child slow to
// exec.

// The supervisor loop never blocks: not when hundreds of children exit at
// once, not during a restart of hundreds of workers. Each test asks for the
// status on the control socket all along (see ctlstatus_test.go): a loop
// that is stuck does not answer.

// TestManyWorkersExitTogether: every worker of a large generation exits at
// the same moment. zedr-run reaps them all, answers status throughout,
// replaces every one, and stops on SIGTERM.
func TestManyWorkersExitTogether(t *testing.T) {
	const n = 200
	dir := t.TempDir()
	ctl := filepath.Join(dir, "control.sock")
	app := filepath.Join(dir, "app")
	// Generation 1 reads its stdin, a pipe the test holds: closing it ends
	// every worker at once. The workers that replace them sleep.
	writeScript(t, app, `if [ "$ZEDR_GENERATION" = 1 ]; then read x; exit 3; fi
exec sleep 100000`)
	stdin, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	cmd := execZedr("--control", ctl, "--workers", strconv.Itoa(n), "--ready", "delay:50ms", "--no-watch",
		"--listen", "tcp:127.0.0.1:0", "--", app)
	cmd.Stdin = stdin
	z := startCmd(t, cmd, true)
	stdin.Close()
	z.waitLog(`msg="generation ready" gen=1 `)

	poll := pollStatus(ctl)
	hold.Close() // every worker of generation 1 reads EOF and exits 3
	st := waitStatus(t, ctl, fmt.Sprintf("%d crashes, every worker replaced", n), func(st control.Status) bool {
		return st.Crashes == n && readyWorkers(st, 1) == n
	})
	poll.finish(t, "the exits and the replacements")
	t.Logf("%d workers exited together: %d crashes, generations now %v", n, st.Crashes, liveGens(st))

	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("zedr-run exited %d, want %d (the current worker killed by SIGTERM)", code, 128+int(syscall.SIGTERM))
	}
}

// TestRolloutAllManyWorkers: a --rollout all restart of a large generation
// starts every new worker, then stops every old one at once; zedr-run
// answers status throughout and ends with the new generation alone.
func TestRolloutAllManyWorkers(t *testing.T) {
	const n = 200
	ctl := filepath.Join(t.TempDir(), "control.sock")
	z := startZedr(t, "--control", ctl, "--workers", strconv.Itoa(n), "--rollout", "all", "--ready", "delay:50ms",
		"--no-watch", "--listen", "tcp:127.0.0.1:0", "--", "sleep", "100000")
	z.waitLog(`msg="generation ready" gen=1 `)

	poll := pollStatus(ctl)
	z.signal(syscall.SIGUSR2)
	st := waitStatus(t, ctl, "generation 2 serving alone", func(st control.Status) bool {
		gens := liveGens(st)
		return len(gens) == 1 && gens[0] == 2 && readyWorkers(st, 1) == n
	})
	poll.finish(t, "the restart")
	t.Logf("restart of %d workers done: restarts=%d generations %v", n, st.Restarts, liveGens(st))

	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("zedr-run exited %d, want %d (the current worker killed by SIGTERM)", code, 128+int(syscall.SIGTERM))
	}
}

// TestSlowExec: the shim's exec of the command is held up (strace delays
// every process's second execve: the shim's, of the command). zedr-run
// waits for the shim's report off its loop, so while generation 1 is still
// starting, status answers, a restart request is taken and queued, and
// SIGTERM is acted on at once. Transparent mode too, where the shim first
// sends its seccomp listener. (The held-up shim cannot die until strace
// lets it go, so zedr-run's exit is not part of this test; the cleanup
// kills strace and zedr-run.)
func TestSlowExec(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed")
	}
	if out, err := exec.Command(strace, "-o", "/dev/null", "true").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here: %v %s", err, out)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sockets", nil},
		{"intercept-bind", []string{"--intercept-bind"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := filepath.Join(t.TempDir(), "control.sock")
			args := []string{"-f", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=execve", "-e", "inject=execve:delay_enter=3600s:when=2",
				bin("zedr-run"), "--control", ctl, "--ready", "delay:50ms", "--no-watch", "--listen", "tcp:127.0.0.1:0"}
			args = append(append(args, tc.args...), "--", "sleep", "100000")
			z := startCmd(t, exec.Command(strace, args...), true)
			// zedr-run is strace's child: kill it, then strace, which lets
			// the shim go (and a zedr-run strace let go could run on).
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%[1]d/children", z.cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			zedrPID := atoi(t, strings.TrimSpace(string(b)))
			t.Cleanup(func() {
				syscall.Kill(zedrPID, syscall.SIGKILL)
				z.cmd.Process.Kill()
			})
			waitStatus(t, ctl, "generation 1 starting", func(st control.Status) bool {
				return len(st.Generations) == 1 && st.Generations[0].State == "starting"
			})

			resp, err := askControl(ctl, control.Request{Cmd: control.CmdRestart})
			if err != nil || !resp.OK {
				t.Fatalf("restart while generation 1 is starting: %+v, %v", resp, err)
			}
			waitStatus(t, ctl, "the restart queued", func(st control.Status) bool {
				return st.RestartQueued && len(st.Generations) == 1 && st.Generations[0].State == "starting"
			})

			// SIGTERM is handled while generation 1 is still starting. The
			// log says so; status may already be gone: with the shim's exec
			// held, the stop signal ends generation 1 at once, and zedr-run
			// with it.
			syscall.Kill(zedrPID, syscall.SIGTERM)
			z.waitLog(`msg=stopping why="signal SIGTERM"`)
			z.waitLog(`msg="stopping generation" gen=1 `)
		})
	}
}
