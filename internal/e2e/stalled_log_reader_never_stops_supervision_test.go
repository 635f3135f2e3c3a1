package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/wrapper/control"
)

// Guarantee: A stalled log reader never stops supervision.

// stuckLog is a zedr-run whose stdout and stderr are a pipe that nobody
// reads until the test says so.
type stuckLog struct {
	cmd    *exec.Cmd
	r      *os.File
	ctl    string
	exited chan struct{}

	mu    sync.Mutex
	lines []string
}

// startStuckLog starts zedr-run with a chatty child (a thousand long
// STATUS= lines, each a line of zedr-run's log) and its output going to a
// pipe of one page that the test holds open and does not read.
func startStuckLog(t *testing.T) *stuckLog {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, os.Getpagesize()); err != nil {
		t.Fatal(err)
	}
	s := &stuckLog{r: r, ctl: filepath.Join(t.TempDir(), "control.sock"), exited: make(chan struct{})}
	// The child's own output goes elsewhere: a child writing to the full
	// pipe blocks, which is its own business.
	s.cmd = execZedr("--control", s.ctl, "--ready", "delay:50ms", "--log-level", "debug", "--no-watch",
		"--listen", "tcp:127.0.0.1:0", "--", "sh", "-c", `exec "$0" -status-lines 1000 >/dev/null 2>&1`, bin("testserver"))
	s.cmd.Stdout, s.cmd.Stderr = w, w
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		r.Close()
		if t.Failed() {
			t.Logf("zedr-run log (what was read):\n%s", s.log())
		}
	})
	return s
}

// drain reads the pipe from now on.
func (s *stuckLog) drain() {
	go func() {
		sc := bufio.NewScanner(s.r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
	}()
}

func (s *stuckLog) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// waitLog waits for a line matching expr and returns its submatches.
func (s *stuckLog) waitLog(t *testing.T, expr string) []string {
	t.Helper()
	re := regexp.MustCompile(expr)
	deadline := time.Now().Add(waitLimit)
	for {
		s.mu.Lock()
		for _, l := range s.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				s.mu.Unlock()
				return m
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %q within %v", expr, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *stuckLog) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(waitLimit):
		t.Fatalf("zedr-run did not exit within %v", waitLimit)
	}
	return s.cmd.ProcessState.ExitCode()
}

// supervise checks that zedr-run supervises while its log
// cannot be written: status answers, a crashed child is replaced.
func (s *stuckLog) supervise(t *testing.T) {
	t.Helper()
	st := waitStatus(t, s.ctl, "generation 1 serving", func(st control.Status) bool {
		return len(st.Generations) > 0 && st.Generations[0].Gen == 1 && st.Generations[0].Current
	})
	poll := pollStatus(s.ctl)
	pid := st.Generations[0].PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s.ctl, "the crashed child replaced", func(st control.Status) bool {
		return st.Crashes == 1 && readyWorkers(st, 1) == 1
	})
	poll.finish(t, "a crash restart with the log pipe full")
}

// TestUnreadLogPipe: zedr-run's log goes to a pipe nobody reads (as with
// `zedr-run ... 2>&1 | sleep 1000`). Supervision goes on; the lines that
// did not fit are counted and reported once the pipe is read again.
func TestUnreadLogPipe(t *testing.T) {
	t.Run("drained", func(t *testing.T) {
		s := startStuckLog(t)
		s.supervise(t)
		// Drain only once lines were dropped, which status counts: on a
		// slow machine the chatter may not have filled the queue yet.
		st := waitStatus(t, s.ctl, "log lines dropped", func(st control.Status) bool { return st.LogLinesDropped > 0 })
		t.Logf("before draining: status counts %d log lines dropped", st.LogLinesDropped)
		s.drain()
		m := s.waitLog(t, `dropped (\d+) log lines`)
		t.Logf("after draining: %q", m[0])
		s.cmd.Process.Signal(syscall.SIGTERM)
		if code := s.wait(t); code != 0 {
			t.Errorf("zedr-run exited %d, want 0 (the child stopped gracefully)", code)
		}
		// Written before the exit: the last lines are flushed.
		s.waitLog(t, `msg=stopping why="signal SIGTERM"`)
	})
	t.Run("never read", func(t *testing.T) {
		s := startStuckLog(t)
		s.supervise(t)
		s.cmd.Process.Signal(syscall.SIGTERM)
		if code := s.wait(t); code != 0 {
			t.Errorf("zedr-run exited %d, want 0 (the child stopped gracefully)", code)
		}
	})
}

// TestClosedLogNoSIGPIPE: when the reader of zedr-run's log goes away, each
// log write raises SIGPIPE in zedr-run itself. zedr-run neither dies of it
// nor passes it on: the children see no SIGPIPE. (Each child notes the
// signals it gets; it handles a pending SIGPIPE before SIGTERM, the stop
// signal, after which it exits.)
func TestClosedLogNoSIGPIPE(t *testing.T) {
	dir := t.TempDir()
	ctl := filepath.Join(dir, "control.sock")
	marks := filepath.Join(dir, "signals")
	child := filepath.Join(dir, "child")
	writeScript(t, child, `trap 'echo PIPE-$ZEDR_GENERATION >> `+marks+`' PIPE
trap 'echo TERM-$ZEDR_GENERATION >> `+marks+`; exit 0' TERM
while :; do sleep 1 & wait $!; done`)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := execZedr("--control", ctl, "--ready", "delay:50ms", "--no-watch", "--", child)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitStatus(t, ctl, "generation 1 serving", func(st control.Status) bool { return readyWorkers(st, 0) == 1 })
	r.Close() // the log reader goes away: every log line from now on fails
	for range 2 {
		resp, err := askControl(ctl, control.Request{Cmd: control.CmdRestart, Wait: true})
		if err != nil || !resp.OK {
			t.Fatalf("restart: %+v, %v", resp, err)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(waitLimit):
		t.Fatalf("zedr-run did not exit within %v", waitLimit)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("zedr-run ended with %v, want exit 0", cmd.ProcessState)
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(b))
	slices.Sort(got)
	if !slices.Equal(got, []string{"TERM-1", "TERM-2", "TERM-3"}) {
		t.Errorf("the children got the signals %q, want only their stop signal: TERM-1 TERM-2 TERM-3", got)
	}
}
