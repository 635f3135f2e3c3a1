package wrapper

import (
	"syscall"
	"time"
)

// generation is one start of the command: the unit of a restart. It starts
// one worker per slot it fills (every slot for a restart, only the empty
// ones when crashed workers are replaced). Only the supervisor loop touches it.
type generation struct {
	n   int
	why string // why it was started: firstStart, the restart's source, ...

	firstPID int    // the main pid of its first worker, for Status once it is gone
	lastExit string // how the last of its main processes ended, for Status
	state    state  // starting while pending; ready while any of its workers serves
	started  time.Time
	readyAt  time.Time

	slots   []int     // the worker slots (ZEDR_WORKER) this generation fills
	next    int       // index in slots of the next worker to start
	workers []*worker // its processes, in the order started; exited ones are swept
	rolling bool      // start one worker at a time, each replacing the old one of its slot

	waiters []chan<- error // restart requests answered when this generation is ready or rolled back

	phases phases // when each step of its start happened (phases_linux.go)
}

// worker is one process of a generation. Readiness, stopping and reaping
// go by worker.
type worker struct {
	g       *generation
	slot    int    // ZEDR_WORKER
	pid     int    // the process zedr-run started; also its process group id
	mainPID int    // the main process: pid, or what the child announced with MAINPID=
	mainFD  *pidfd // holds mainPID when it is not pid (see mainpid_linux.go)
	state   state
	started time.Time
	readyAt time.Time

	mainExited    bool
	status        syscall.WaitStatus // of the main process, once mainExited
	statusUnknown bool               // another process reaped the main process

	execPending    bool                // the shim has not yet said whether it exec'd the command
	exitBeforeExec *syscall.WaitStatus // the shim's exit, reaped before its report came

	readyTimer timer     // ready timeout
	delayTimer timer     // delay: readiness
	probeTimer timer     // next exec: probe
	probePID   int       // running exec: probe, or 0
	stopTimer  timer     // SIGKILL of the group after the stop timeout
	stopAt     time.Time // when stopTimer fires, for a reexec to re-arm it
	killTimer  timer     // a look for what is left, killGrace after the stop timeout's SIGKILL

	minReadyTimer timer     // --min-ready: runs from the readiness signal (see minready_linux.go)
	readyHow      string    // how it signalled readiness, while minReadyTimer runs
	readySignal   time.Time // when it did; minReadyTimer runs from there
	minReadyDone  bool      // it stayed up for --min-ready after its readiness signal

	watchdogTimer timer     // --watchdog: fires Config.Watchdog after it was armed (watchdog_linux.go)
	pingAt        time.Time // its last WATCHDOG=1, or when the watchdog was armed
	watchdogBy    time.Time // EXTEND_TIMEOUT_USEC moved its watchdog to then, until the next WATCHDOG=1
	triggeredAt   time.Time // its last WATCHDOG=trigger that counted
	hung          bool      // the watchdog fired: it is replaced, and stopped with the watchdog signal
	hungWaits     bool      // hung while another restart ran: replaced once that one is done

	readyBy      time.Time // the ready timeout, once EXTEND_TIMEOUT_USEC moved it (extend_linux.go)
	stopExtended bool      // EXTEND_TIMEOUT_USEC moved stopAt

	replacedBy *generation // the generation that replaced it, whose phases end when it is gone
}

// stopReadyTimers stops the readiness timers (not the stop timer).
func (w *worker) stopReadyTimers() {
	for _, t := range []timer{w.readyTimer, w.delayTimer, w.probeTimer, w.minReadyTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

func (g *generation) answer(err error) {
	for _, w := range g.waiters {
		w <- err
	}
	g.waiters = nil
}

// pid is the main pid of the generation's first worker, for logs and the
// exit status: with one worker, the child.
func (g *generation) pid() int {
	if len(g.workers) == 0 {
		return 0
	}
	return g.workers[0].mainPID
}

// The transitions of a worker: starting → ready → draining → exited, or
// starting → draining when it is given up or stopped before it was ready.
// A generation goes the same way; while it is not pending its state follows
// its workers' (settle). These are the only writes of either state.

// becomeReady marks w ready, from now.
func (w *worker) becomeReady() { w.state, w.readyAt = ready, time.Now() }

// drain marks w told to stop (or gone while its group is being stopped).
func (w *worker) drain() { w.state = draining }

// exit marks w gone: its main process and everything of it.
func (w *worker) exit() { w.state = exited }

// becomeReady marks g ready, from now: every worker it started is.
func (g *generation) becomeReady() { g.state, g.readyAt = ready, time.Now() }

// drain marks g stopping: none of its workers serves any more.
func (g *generation) drain() { g.state = draining }

// rollBack marks g, whose start was given up, draining; or ready while
// some of its workers keep the slots they already took (a rolling rollout
// stopped midway).
func (g *generation) rollBack(serving bool) {
	g.state = draining
	if serving {
		g.state = ready
	}
}

// exit marks g gone: no process of it is left.
func (g *generation) exit() { g.state = exited }

// settle makes g's state follow its workers': ready while one of them
// serves, draining after.
func (g *generation) settle() {
	for _, w := range g.workers {
		if w.state == ready {
			g.state = ready
			return
		}
	}
	g.state = draining
}
