package wrapper

import (
	"syscall"
	"time"
)

// state is where a generation is in its life.
type state int

const (
	starting state = iota // started, not yet ready
	ready                 // serving: the current generation
	draining              // told to stop, or its main process is gone and its group is being stopped
	exited                // main process and whole process group gone
)

func (s state) String() string {
	return [...]string{"starting", "ready", "draining", "exited"}[s]
}

// generation is one start of the command. Only the supervisor loop touches it.
type generation struct {
	n       int
	why     string // why it was started: firstStart, the restart's source, ...
	pid     int    // the process zedr-run started; also its process group id
	mainPID int    // the main process: pid, or what the child announced with MAINPID=
	state   state
	started time.Time
	readyAt time.Time

	mainExited bool
	status     syscall.WaitStatus // of the main process, once mainExited

	readyTimer *time.Timer // ready timeout
	delayTimer *time.Timer // delay: readiness
	probeTimer *time.Timer // next exec: probe
	probePID   int         // running exec: probe, or 0
	stopTimer  *time.Timer // SIGKILL of the group after the stop timeout

	waiters []chan<- error // restart requests answered when this generation is ready or rolled back
}

// stopTimers stops the readiness timers (not the stop timer).
func (g *generation) stopReadyTimers() {
	for _, t := range []*time.Timer{g.readyTimer, g.delayTimer, g.probeTimer} {
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
