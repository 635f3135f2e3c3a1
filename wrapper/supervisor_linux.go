package wrapper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sdnotify"
	"zedr-run/reexec"
	"zedr-run/wrapper/control"
	"zedr-run/wrapper/intercept"
	"zedr-run/wrapper/proc"
)

// ErrStopping answers restart requests that arrive while zedr-run stops.
var ErrStopping = errors.New("zedr-run is stopping")

// timerKind says which of a worker's timers fired.
type timerKind int

const (
	timerReadyDelay   timerKind = iota // delay: readiness reached
	timerReadyTimeout                  // not ready in time
	timerProbe                         // run the exec: probe again
	timerStop                          // stop timeout: kill the process group
	timerKilled                        // killGrace after the stop timeout: look for what is left
	timerMinReady                      // ready and up for --min-ready: the generation counts as ready
	timerWatchdog                      // --watchdog: a serving worker's interval passed (watchdog_linux.go)
)

type timerEvent struct {
	w    *worker
	kind timerKind
}

type backoffEvent struct{}

// forceExit ends the loop killGrace after a second stop signal, whatever
// is left.
type forceExit struct{}

type supervisor struct {
	cfg       Config
	log       *slog.Logger
	notify    *sdnotify.Socket
	guard     *reexec.Guardian
	outer     *sdnotify.Sender
	intercept *intercept.Interceptor // transparent mode, or nil
	contain   *containment           // finds the processes that left their group
	fx        effects                // processes and time; osEffects but in tests
	events    chan event
	done      chan struct{}

	// reloading: RELOADING=1 went to outer, READY=1 not yet (upstream_linux.go);
	// reportedErrno: the ERRNO= of the last failure told, until READY=1 clears it.
	reloading     bool
	reportedErrno syscall.Errno

	gens    []*generation // every generation with a process left, oldest first
	slots   []*worker     // the ready worker serving each slot (ZEDR_WORKER), nil while empty
	pending *generation   // the one starting, or nil
	nextGen int

	restartAt time.Time // when the restart about to start reached the loop (phases_linux.go)

	spare        *spareShim // the spare shim ready for the next start, or nil (spare_linux.go)
	spareForking bool       // one is being forked
	spareTimer   timer      // the wait for the fd store to settle before the next, or nil

	check *check // the --check running before a restart, or nil

	queued        bool           // a restart waits for the pending one (or the check)
	queuedWaiters []chan<- error // and these want to hear how it went

	backoff      time.Duration
	backoffTimer timer
	limit        startLimit // crash restarts counted against the start limit

	stopping  bool
	stopDelay timer               // while a stop waits out Config.StopDelay, serving on
	exitNow   bool                // a second stop signal: exit without waiting for the generations
	startErr  error               // generation 1 could not be started: Run returns it
	final     *worker             // whose status zedr-run exits with
	lastExit  *syscall.WaitStatus // of the last main process that ended on its own

	hist history // for Status

	store       []*storedFD // the children's fd store, in the order stored
	nextStoreID int32       // the last storedFD.id given
	fdpoll      *fdPoller   // watches the store for hang-ups; nil in the state machine's tests

	ctl         *control.Server // nil without a control socket
	selfTest    *selfTest       // the new binary's check before a reexec, or nil
	execPending *reexecRequest  // a reexec whose check passed, waiting for execNow
}

// Run supervises the command until zedr-run is told to stop (SIGTERM or
// SIGINT on cfg.Signals, or ctx is done), then stops every generation and
// returns the exit code of the current child (128+N if signal N killed it).
// It returns an error, and starts nothing further, when the first generation
// cannot be started at all.
func (sv *Supervisor) Run(ctx context.Context) (int, error) {
	defer sv.ended()
	cfg := sv.cfg
	cfg.setDefaults()
	if len(cfg.Command) == 0 {
		return 0, errors.New("no command to run")
	}
	if cfg.Workers > MaxWorkers {
		return 0, fmt.Errorf("workers %d: more than MaxWorkers (%d); run fewer workers", cfg.Workers, MaxWorkers)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("become a child subreaper: %w", err)
	}
	var notify *sdnotify.Socket
	var guard *reexec.Guardian
	var err error
	if h := cfg.Handoff; h != nil {
		var uids []int
		if cfg.Credential != nil {
			uids = append(uids, int(cfg.Credential.Uid))
		}
		if notify, err = restoreNotify(h, uids...); err != nil {
			return 0, err
		}
		guard = reexec.AdoptGuardian(h.GuardFD)
	} else {
		if notify, err = listenNotifyFor(cfg.NotifyDir, cfg.Credential); err != nil {
			return 0, err
		}
		if guard, err = reexec.StartGuardian(proc.Spawn); err != nil {
			notify.Close()
			return 0, err
		}
		for _, sock := range cfg.Sockets {
			if sock.Owned() && !cfg.KeepSocketFiles {
				guardFile(guard, sock)
			}
		}
	}
	defer notify.Close()
	defer guard.Close()

	s := newSupervisor(sv, cfg)
	s.notify, s.guard = notify, guard
	defer sv.ended()
	defer s.outer.Close()
	if s.contain, err = s.setupContainment(); err != nil {
		return 0, err
	}
	defer s.contain.close()
	if cfg.FDStoreMax > 0 && !cfg.InterceptBind {
		if s.fdpoll, err = newFDPoller(); err != nil {
			return 0, err
		}
		defer s.fdpoll.close()
		go s.fdpoll.run(s.post)
		notify.AcceptFDs(cfg.FDStoreMax)
	}
	defer s.closeStore()
	if cfg.Handoff == nil {
		s.restoreManagerStore(cfg.ManagerStored) // a reexec hands over the store itself
	}
	defer s.dropQueued() // runs after sv.ended: closes the fds of messages queued for the loop that ended
	defer sv.ended()
	// The reaper and the notify reader post through one intake, which
	// keeps a main process's exit after the messages it sent before it.
	in := &intake{notify: notify, post: s.post}
	go proc.Reap(s.done, in.postExits)
	go in.serveNotify()

	switch {
	case cfg.Handoff != nil && cfg.Handoff.ControlFD >= 0:
		if s.ctl, err = control.Restore(cfg.Handoff.ControlFD, cfg.Handoff.Control); err != nil {
			return 0, err
		}
	case cfg.ControlPath != "":
		if s.ctl, err = control.Listen(cfg.ControlPath); err != nil {
			return 0, err
		}
		guardFile(guard, s.ctl.Socket())
	}
	if s.ctl != nil {
		defer s.ctl.Close()
		go s.ctl.Serve(sv, s.log)
		s.log.Info("control socket", "path", s.ctl.Path())
	}

	defer s.closeIntercept()
	if cfg.Handoff != nil {
		s.restore(cfg.Handoff)
	} else if err := s.start(firstStart); err != nil {
		return 0, err
	}
	s.armOuterWatchdog()
	return s.loop(ctx)
}

// newSupervisor is the loop's state for cfg (with its defaults set),
// before anything has started, acting on real processes and time.
func newSupervisor(sv *Supervisor, cfg Config) *supervisor {
	s := &supervisor{
		cfg:     cfg,
		log:     cfg.Logger,
		outer:   sdnotify.NewSender(cfg.OuterNotify),
		events:  sv.events,
		done:    sv.done,
		slots:   make([]*worker, cfg.Workers),
		nextGen: 1,
		backoff: DefaultBackoffMin,
		limit:   newStartLimit(cfg),
		hist:    history{started: time.Now()},
	}
	s.fx = osEffects{s}
	return s
}
