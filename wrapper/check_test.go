package wrapper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zedr-run/reexec"
)

// The test binary is also the shim: Run starts every child through
// /proc/self/exe with argv[0] zedr-run-shim.
func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

const waitLimit = 30 * time.Second

// runSupervisor runs a Supervisor in this process with a long-lived shell
// as the command and returns it, for restart requests. The test's cleanup
// stops it.
func runSupervisor(t *testing.T, check string) *Supervisor {
	t.Helper()
	sv := New(Config{
		Command: []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"},
		Env:     os.Environ(),
		Ready:   Readiness{Kind: ReadyDelay, Delay: 10 * time.Millisecond},
		Check:   check,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := sv.Run(ctx)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Errorf("Run did not return within %v of its context being done", waitLimit)
		}
	})
	return sv
}

func restart(t *testing.T, sv *Supervisor, source string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	if !sv.post(Request{Source: source, Done: done}) {
		t.Fatal("the supervisor has stopped")
	}
	return done
}

func outcome(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("no answer to the restart request within %v", waitLimit)
	}
	return nil
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCheckFailsAndCoalesces: a failing check answers the waiter with a
// CheckError holding its status and output; requests that come while it
// runs wait for one more run of the check, and all their waiters hear it.
func TestCheckFailsAndCoalesces(t *testing.T) {
	dir := t.TempDir()
	runs, started, release := filepath.Join(dir, "runs"), filepath.Join(dir, "started"), filepath.Join(dir, "release")
	check := fmt.Sprintf(`echo run >> %[1]s; touch %[2]s; while [ ! -e %[3]s ]; do sleep 0.02; done; rm -f %[2]s %[3]s; echo "config broken" >&2; exit 3`, runs, started, release)
	restarts := runSupervisor(t, check)

	first := restart(t, restarts, "first")
	waitFile(t, started)
	second := restart(t, restarts, "second")
	third := restart(t, restarts, "third")
	os.WriteFile(release, nil, 0o644)

	var ce *CheckError
	err := outcome(t, first)
	if !errors.As(err, &ce) || ce.Status != "exit status 3" || ce.Output != "config broken\n" {
		t.Fatalf("first request: %v; want a CheckError with exit status 3 and its output", err)
	}
	t.Logf("first request: %v", err)
	waitFile(t, started) // the queued restart runs the check again
	os.WriteFile(release, nil, 0o644)
	for _, done := range []<-chan error{second, third} {
		if err := outcome(t, done); !errors.As(err, &ce) {
			t.Errorf("queued request: %v; want a CheckError", err)
		}
	}
	if b, _ := os.ReadFile(runs); strings.Count(string(b), "run") != 2 {
		t.Errorf("the check ran %d times for three requests, two of them during the first run; want 2", strings.Count(string(b), "run"))
	}
	if st, err := restarts.Status(); err != nil || st.CheckFailures != 2 || st.Restarts != 0 {
		t.Errorf("status after two failed checks: check_failures %d, restarts %d (err %v); want 2 and 0", st.CheckFailures, st.Restarts, err)
	}
}

// TestCheckPasses: a passing check lets the restart happen.
func TestCheckPasses(t *testing.T) {
	restarts := runSupervisor(t, "echo fine")
	if err := outcome(t, restart(t, restarts, "test")); err != nil {
		t.Fatalf("restart with a passing check: %v", err)
	}
}
