package wrapper

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sdnotify"
)

// What zedr-run tells its own service manager (Config.OuterNotify) about a
// restart, which systemd calls a reload: the protocol of systemd's
// Type=notify-reload (systemd.service(5), sd_notify(3)), and the same
// messages serve Type=notify.
//
//   - A restart that begins while something serves sends RELOADING=1 with
//     MONOTONIC_USEC=<CLOCK_MONOTONIC now, in µs>. systemd takes a
//     RELOADING=1 as the answer to its ReloadSignal= (SIGUSR2 here) only when
//     that time is not before it sent the signal; a restart requested while
//     another runs is queued and sends its own RELOADING=1 when it begins,
//     so systemd's reload is the one that answers its signal. With --check
//     the reload begins with the check. Replacing crashed workers while
//     the others serve is no reload: STATUS= only.
//   - It ends with READY=1 once the new generation took over, and with
//     READY=1, STATUS=<why> and ERRNO=<errno> when it failed (the check
//     refused it, it could not start, or it was rolled back): the old
//     generation still serves, so the reload is over. systemd's protocol has
//     no message for a failed reload: it keeps STATUS= and ERRNO= (the unit's
//     StatusText and StatusErrno, which `systemctl status` shows), but
//     `systemctl reload` itself returns 0. A reload that must report failure
//     to its caller uses ExecReload=zedr-run restart --wait (Type=notify).
//     The next READY=1 after a failure sends ERRNO=0 to clear it.
//   - With nothing serving there is no reload: a failed start says why with
//     STATUS= and ERRNO= and no READY=1.
//
// Each is one datagram, written from the loop (a write to the service
// manager's socket, bounded by the kernel).

// The ERRNO= of a failed restart, by cause: an errno a reader of `systemctl
// show -p StatusErrno` can look up.
const (
	errnoCheckRefused = unix.EINVAL    // --check exited non-zero or timed out: the new version is not valid
	errnoExited       = unix.ESRCH     // the new generation's process exited (or died) before it was ready
	errnoNotReady     = unix.ETIMEDOUT // not ready within --ready-timeout
	errnoNoStart      = unix.ENOEXEC   // it could not be started, for a reason that carries no errno
)

// errnoOf is the errno err carries (an exec's ENOENT, a fork's EAGAIN), or
// errnoNoStart.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) && e != 0 {
		return e
	}
	return errnoNoStart
}

// reloadBegins tells the service manager that a restart began, with status
// as its STATUS= line; RELOADING=1 goes only with the first of a reload's
// messages.
func (s *supervisor) reloadBegins(status string) {
	if s.reloading {
		s.tell("STATUS=" + status)
		return
	}
	s.reloading = true
	s.tell("RELOADING=1", sdnotify.MonotonicUsec(), "STATUS="+status)
}

// tellStarted tells the service manager that generation n started: a
// reload begins when it replaces one that serves, unless it only fills the
// slots of crashed workers (with more than one worker, the others serve
// on): that is no reload, and a ReloadSignal= meanwhile is queued behind
// it and answered by a RELOADING=1 of its own.
func (s *supervisor) tellStarted(n int, why string) {
	serving := s.serving()
	switch {
	case len(serving) == 0:
		s.tell(fmt.Sprintf("STATUS=starting generation %d (%s)", n, why))
	case why == crashRestart:
		s.tell(fmt.Sprintf("STATUS=replacing crashed workers: generation %d starting, generation %d serving", n, serving[0].g.n))
	default:
		s.reloadBegins(fmt.Sprintf("restarting: generation %d starting (%s), generation %d serving", n, why, serving[0].g.n))
	}
}

// ready tells the service manager that a generation serves (the first
// start, a crash restart or a reload done), clearing a failure's ERRNO=.
func (s *supervisor) ready(status string) {
	lines := []string{"READY=1", "STATUS=" + status}
	if s.reportedErrno != 0 {
		lines = append(lines, "ERRNO=0")
		s.reportedErrno = 0
	}
	s.reloading = false
	s.tell(lines...)
}

// servingAnd is a STATUS= line for what happened while a generation
// serves on: "serving: generation 3; " + what.
func (s *supervisor) servingAnd(what string) string {
	if serving := s.serving(); len(serving) > 0 {
		return fmt.Sprintf("serving: generation %d; %s", serving[0].g.n, what)
	}
	return what
}

// reloadFailed tells the service manager why a restart failed. With
// something serving, that ends the reload (READY=1); without, the service
// is not ready, and only the next generation ready says READY=1.
func (s *supervisor) reloadFailed(status string, errno syscall.Errno) {
	s.reportedErrno = errno
	lines := []string{"STATUS=" + status, "ERRNO=" + strconv.Itoa(int(errno))}
	if len(s.serving()) > 0 {
		s.reloading = false
		lines = append([]string{"READY=1"}, lines...)
	}
	s.tell(lines...)
}
