package wrapper

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/wrapper/proc"
)

// DefaultCheckTimeout bounds a --check command. A pre-flight check such as
// nginx -t takes well under a second; one that hangs (waiting for a lock or
// the network) must not block restarts for ever.
const DefaultCheckTimeout = 60 * time.Second

// maxCheckOutput is how much of a check's output (stdout and stderr
// together) is kept for the log; the rest is read and dropped.
const maxCheckOutput = 8 << 10

// CheckError is a --check command that failed: the restart it guarded did
// not happen and the serving generation goes on serving.
type CheckError struct {
	Command string
	Status  string // "exit status 1", "killed by SIGKILL", "timed out after 1m0s"
	Output  string // the first maxCheckOutput bytes of its stdout and stderr
}

func (e *CheckError) Error() string {
	msg := fmt.Sprintf("check %q failed (%s): no restart, the serving generation keeps serving", e.Command, e.Status)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += "; its output: " + out
	}
	return msg
}

// check is a running --check command and the restart it guards. Only the
// supervisor loop touches it.
type check struct {
	pid     int
	why     string
	waiters []chan<- error
	started time.Time
	timer   timer

	status     *syscall.WaitStatus // once the process has exited
	timedOut   bool
	output     []byte
	truncated  int64 // bytes dropped past maxCheckOutput
	outputDone bool  // the pipe reached EOF
}

// checkOutput is a check's output, posted once its pipe is closed.
type checkOutput struct {
	pid       int
	output    []byte
	truncated int64
}

// checkTimeout is posted when a check runs past DefaultCheckTimeout.
type checkTimeout struct{ c *check }

// startCheck runs the --check command (directly, or through the shell: see
// command_linux.go) with its stdout and
// stderr on a pipe that a goroutine drains; the restart waits for the check's
// exit (seen by the reaper) and its output.
func (s *supervisor) startCheck(why string, waiters []chan<- error) {
	fail := func(err error) {
		err = fmt.Errorf("start check %q: %w", s.cfg.Check, err)
		s.log.Error("check did not start: no restart", "why", why, "err", err)
		s.hist.checkFail++
		s.reloadFailed(s.servingAnd(fmt.Sprintf("no restart: %v", err)), errnoOf(err))
		for _, w := range waiters {
			w <- err
		}
	}
	if serving := s.serving(); len(serving) > 0 {
		s.reloadBegins(fmt.Sprintf("restarting: checking generation %d (%s), generation %d serving", s.nextGen, why, serving[0].g.n))
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		fail(err)
		return
	}
	r := os.NewFile(uintptr(p[0]), "check output")
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		r.Close()
		unix.Close(p[1])
		fail(err)
		return
	}
	env := append([]string(nil), s.cfg.Env...)
	env = append(env, "ZEDR_GENERATION="+strconv.Itoa(s.nextGen))
	if serving := s.serving(); len(serving) > 0 {
		env = append(env, "ZEDR_PID="+strconv.Itoa(serving[0].mainPID))
	}
	path, argv, err := commandPath(s.cfg.Check)
	if err != nil {
		r.Close()
		unix.Close(p[1])
		devnull.Close()
		fail(err)
		return
	}
	pid, err := proc.Spawn(path, argv, &syscall.ProcAttr{
		Dir:   s.cfg.Dir,
		Env:   env,
		Files: []uintptr{devnull.Fd(), uintptr(p[1]), uintptr(p[1])},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	devnull.Close()
	unix.Close(p[1])
	if err != nil {
		r.Close()
		fail(err)
		return
	}
	c := &check{pid: pid, why: why, waiters: waiters, started: time.Now()}
	c.timer = s.after(DefaultCheckTimeout, checkTimeout{c})
	s.check = c
	s.log.Info("running check before restart", "command", s.cfg.Check, "pid", pid, "why", why)
	go func() {
		defer r.Close()
		out, dropped := readCapped(r, maxCheckOutput)
		s.post(checkOutput{pid: pid, output: out, truncated: dropped})
	}()
}

// readCapped reads r to EOF, keeping the first max bytes and counting the rest.
func readCapped(r io.Reader, max int) ([]byte, int64) {
	out, _ := io.ReadAll(io.LimitReader(r, int64(max)))
	dropped, _ := io.Copy(io.Discard, r)
	return out, dropped
}

// onCheckExit handles the exit of the check's process. What is left of its
// process group is killed, so that the pipe closes.
func (s *supervisor) onCheckExit(status syscall.WaitStatus) {
	c := s.check
	c.status = &status
	unix.Kill(-c.pid, unix.SIGKILL)
	s.finishCheck()
}

func (s *supervisor) onCheckOutput(o checkOutput) {
	c := s.check
	if c == nil || c.pid != o.pid {
		return
	}
	c.output, c.truncated, c.outputDone = o.output, o.truncated, true
	s.finishCheck()
}

func (s *supervisor) onCheckTimeout(ev checkTimeout) {
	c := ev.c
	if s.check != c {
		return
	}
	c.timedOut = true
	if c.status != nil {
		// It exited, but something it left behind outside its process
		// group still holds the output pipe.
		c.outputDone = true
		c.output = append(c.output, "\n[output pipe still held open by a process the check left behind]"...)
		s.finishCheck()
		return
	}
	s.log.Warn("check timed out: killing it", "command", s.cfg.Check, "pid", ev.c.pid, "timeout", DefaultCheckTimeout)
	unix.Kill(-ev.c.pid, unix.SIGKILL)
}

// finishCheck decides, once the check has exited and its output is in:
// restart if it exited 0, otherwise tell the waiters why not. Either way a
// restart queued meanwhile runs next.
func (s *supervisor) finishCheck() {
	c := s.check
	if c.status == nil || !c.outputDone {
		return
	}
	s.check = nil
	c.timer.Stop()
	output := string(c.output)
	if c.truncated > 0 {
		output += fmt.Sprintf("\n[%d more bytes not shown]", c.truncated)
	}
	took := time.Since(c.started).Round(time.Millisecond)
	if s.stopping {
		for _, w := range c.waiters {
			w <- ErrStopping
		}
		return
	}
	if c.status.Exited() && c.status.ExitStatus() == 0 && !c.timedOut {
		s.log.Info("check passed", "command", s.cfg.Check, "after", took, "output", output)
		s.startWith(c.why, c.waiters)
		return
	}
	s.restartAt = time.Time{} // no generation for this restart's phases
	status := proc.Describe(*c.status)
	if c.timedOut && !(c.status.Exited() && c.status.ExitStatus() == 0) {
		status = "timed out after " + DefaultCheckTimeout.String()
	}
	err := &CheckError{Command: s.cfg.Check, Status: status, Output: output}
	attrs := []any{"command", s.cfg.Check, "status", status, "after", took, "why", c.why, "output", output}
	if serving := s.serving(); len(serving) > 0 {
		attrs = append(attrs, "serving", serving[0].g.n)
	}
	s.log.Error("check failed: no restart", attrs...)
	s.hist.checkFail++
	s.reloadFailed(s.servingAnd(fmt.Sprintf("no restart: check %s", status)), errnoCheckRefused)
	for _, w := range c.waiters {
		w <- err
	}
	s.afterFailure() // a queued restart runs; with nothing serving, a retry

}

// stopCheck kills a running check when zedr-run stops; its waiters hear
// ErrStopping once it has been reaped.
func (s *supervisor) stopCheck() {
	if s.check != nil && s.check.status == nil {
		unix.Kill(-s.check.pid, unix.SIGKILL)
	}
}
