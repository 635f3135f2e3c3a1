package wrapper

import (
	"os"

	"zedr-run/wrapper/proc"
)

// event is everything the supervisor loop handles. The set is closed:
// isEvent is unexported, so every kind is one of those below, and handle
// (loop.go) has a case for each.
//
//	event          sent by                                  handled by
//	exitEvent      the reaper (after the notify messages     onExit
//	               sent before it, see intake)
//	notifyMessage  the notify reader (intake)                onNotify
//	execEvent      awaitExec, once the shim exec'd or not    onExec
//	listenEvent    transparent mode's listener goroutines    onListen
//	adoptEvent     transparent mode's listener goroutines    onAdopt
//	mainGone       watchMain, a MAINPID= process's pidfd     onMainGone
//	timerEvent     a worker's timer (ready, probe, stop)     onTimer
//	backoffEvent   the crash backoff timer                   onBackoff
//	forceExit      killGrace after a second stop signal      the loop ends
//	stopDelayOver  the --stop-delay timer after SIGTERM      onStopDelayOver
//	checkOutput    the --check output reader                 onCheckOutput
//	checkTimeout   the --check timer                         onCheckTimeout
//	Request        Restart, the watcher                      requestRestart
//	statusRequest  Status (control socket, tests)            snapshot
//	stopRequest    Stop (control socket)                     shutdown
//	reexecRequest  Reexec (control socket, --watch-self)     requestReexec
//	execNow        once the reexec's requester has answered  onExecNow
//	fdHangup       the fd store's poller (EPOLLHUP/EPOLLERR)  onFDHangup
//	watchdogPing   the timer of zedr-run's own watchdog      onWatchdogPing
//	spareStarted   startSpare's goroutine, a spare shim forked onSpareStarted
//	spareDue       the fd store settled: a spare to fork again onSpareDue
//
// Signals arrive on Config.Signals, a channel the caller owns (main wires
// it to signal.Notify; tests inject their own).
type event interface{ isEvent() }

// exitEvent is a process the reaper collected.
type exitEvent proc.Exit

func (exitEvent) isEvent()     {}
func (notifyMessage) isEvent() {}
func (execEvent) isEvent()     {}
func (listenEvent) isEvent()   {}
func (adoptEvent) isEvent()    {}
func (mainGone) isEvent()      {}
func (timerEvent) isEvent()    {}
func (backoffEvent) isEvent()  {}
func (forceExit) isEvent()     {}
func (stopDelayOver) isEvent() {}
func (checkOutput) isEvent()   {}
func (checkTimeout) isEvent()  {}
func (Request) isEvent()       {}
func (statusRequest) isEvent() {}
func (stopRequest) isEvent()   {}
func (reexecRequest) isEvent() {}
func (execNow) isEvent()       {}

// spareStarted is a spare shim forked by startSpare's goroutine, or why
// not (spare_linux.go).
type spareStarted struct {
	pid    int
	status *os.File
	err    error
	key    leafKey     // the worker it is meant for, in whose cgroup it is
	store  []*storedFD // the fd store it got
}

func (spareStarted) isEvent() {}

// spareDue is the end of the wait for the fd store to settle before a
// spare for worker key is forked again (dropStaleSpare).
type spareDue struct{ key leafKey }

func (spareDue) isEvent() {}
