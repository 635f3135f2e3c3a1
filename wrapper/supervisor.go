package wrapper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
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
	notify    *notifySocket
	guard     *reexec.Guardian
	outer     outerNotify
	intercept *interceptor // transparent mode, or nil
	contain   *containment // finds the processes that left their group
	events    chan any
	done      chan struct{}

	gens    []*generation // every generation with a process left, oldest first
	slots   []*worker     // the ready worker serving each slot (ZEDR_WORKER), nil while empty
	pending *generation   // the one starting, or nil
	nextGen int

	check *check // the --check running before a restart, or nil

	queued        bool           // a restart waits for the pending one (or the check)
	queuedWaiters []chan<- error // and these want to hear how it went

	backoff      time.Duration
	backoffTimer *time.Timer

	stopping bool
	exitNow  bool                // a second stop signal: exit without waiting for the generations
	startErr error               // generation 1 could not be started: Run returns it
	final    *worker             // whose status zedr-run exits with
	lastExit *syscall.WaitStatus // of the last main process that ended on its own

	hist history // for Status

	ctl      *controlServer // nil without a control socket
	selfTest *selfTest      // the new binary's check before a reexec, or nil
}

// Run supervises the command until zedr-run is told to stop (SIGTERM or
// SIGINT on cfg.Signals, or ctx is done), then stops every generation and
// returns the exit code of the current child (128+N if signal N killed it).
// It returns an error, and starts nothing further, when the first generation
// cannot be started at all.
func Run(ctx context.Context, cfg Config) (int, error) {
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
	var notify *notifySocket
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
		if guard, err = reexec.StartGuardian(spawn); err != nil {
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

	s := &supervisor{
		cfg:     cfg,
		log:     cfg.Logger,
		notify:  notify,
		guard:   guard,
		outer:   outerNotify{addr: cfg.OuterNotify},
		events:  make(chan any, 64),
		done:    make(chan struct{}),
		slots:   make([]*worker, cfg.Workers),
		nextGen: 1,
		backoff: DefaultBackoffMin,
		hist:    history{started: time.Now()},
	}
	defer close(s.done)
	defer s.outer.close()
	if s.contain, err = s.setupContainment(); err != nil {
		return 0, err
	}
	defer s.contain.close()
	// The reaper and the notify reader post through one intake, which
	// keeps a main process's exit after the messages it sent before it.
	in := &intake{notify: notify, post: s.post}
	go reap(s.done, in.postExits)
	go in.serveNotify()

	switch {
	case cfg.Handoff != nil && cfg.Handoff.ControlFD >= 0:
		if s.ctl, err = restoreControl(cfg.Handoff); err != nil {
			return 0, err
		}
	case cfg.ControlPath != "":
		if s.ctl, err = listenControl(cfg.ControlPath); err != nil {
			return 0, err
		}
		guardFile(guard, s.ctl.sock)
	}
	if s.ctl != nil {
		defer s.ctl.Close()
		go s.ctl.serve(s)
		s.log.Info("control socket", "path", s.ctl.path)
	}

	if cfg.Handoff != nil {
		s.restore(cfg.Handoff)
	} else if err := s.start(firstStart); err != nil {
		return 0, err
	}
	return s.loop(ctx)
}

// post hands an event to the loop; after the loop has ended it drops it.
func (s *supervisor) post(ev any) {
	select {
	case s.events <- ev:
	case <-s.done:
	}
}

func (s *supervisor) after(d time.Duration, ev any) *time.Timer {
	return time.AfterFunc(d, func() { s.post(ev) })
}

// loop is the supervisor's owner goroutine: it handles one event at a time
// and never waits for anything but the next event. It returns the exit
// code once zedr-run has stopped, or the error of a first generation that
// could not be started, once its processes are reaped.
func (s *supervisor) loop(ctx context.Context) (int, error) {
	ctxDone := ctx.Done()
	for {
		if s.stopping && ((len(s.gens) == 0 && s.check == nil) || s.exitNow) {
			if s.startErr != nil {
				return 0, s.startErr
			}
			return s.exitCode(), nil
		}
		select {
		case <-ctxDone:
			ctxDone = nil
			s.shutdown("context done")
		case sig := <-s.cfg.Signals:
			s.onSignal(sig)
		case by := <-s.cfg.Reexecs:
			written := make(chan struct{})
			close(written) // nobody waits to write an answer
			s.requestReexec(reexecRequest{by: by, done: make(chan error, 1), written: written})
		case req := <-s.cfg.Restarts:
			s.requestRestart(req)
		case ev := <-s.events:
			switch ev := ev.(type) {
			case exit:
				s.onExit(ev)
			case notifyMessage:
				s.onNotify(ev)
			case timerEvent:
				s.onTimer(ev)
			case Request:
				s.requestRestart(ev)
			case statusRequest:
				ev.reply <- s.snapshot()
			case reexecRequest:
				s.requestReexec(ev)
			case stopRequest:
				if !s.stopping {
					s.shutdown(ev.by)
				}
			case checkOutput:
				s.onCheckOutput(ev)
			case checkTimeout:
				s.onCheckTimeout(ev)
			case listenEvent:
				s.onListen(ev)
			case mainGone:
				s.onMainGone(ev)
			case forceExit:
				s.exitNow = true
			case execEvent:
				s.onExec(ev)
			case backoffEvent:
				s.backoffTimer = nil
				if empty := s.emptySlots(); !s.stopping && s.pending == nil && s.check == nil && len(empty) > 0 {
					s.startSlots(crashRestart, nil, empty)
				}
			}
		}
	}
}

func (s *supervisor) onSignal(sig os.Signal) {
	switch {
	case sig == unix.SIGTERM || sig == unix.SIGINT:
		if s.stopping {
			s.log.Warn("second stop signal: killing every generation now", "signal", signame(sig))
			for _, g := range s.gens {
				for _, w := range g.workers {
					s.kill(w)
				}
			}
			s.stopCheck()
			s.after(killGrace, forceExit{})
			return
		}
		s.shutdown("signal " + signame(sig))
	case isOneOf(sig, s.cfg.RestartSignals):
		s.requestRestart(Request{Source: "signal " + signame(sig)})
	default:
		serving := s.serving()
		if len(serving) == 0 {
			s.log.Warn("no child serving to forward the signal to", "signal", signame(sig))
			return
		}
		for _, w := range serving {
			if err := w.signalMain(sig.(syscall.Signal)); err != nil {
				s.log.Warn("forward signal", append([]any{"signal", signame(sig)}, append(s.attrs(w), "err", err)...)...)
			}
		}
	}
}

// requestRestart starts a new generation now, or queues one behind the one
// starting: at most one restart runs and one waits.
func (s *supervisor) requestRestart(req Request) {
	if s.stopping {
		if req.Done != nil {
			req.Done <- ErrStopping
		}
		return
	}
	s.log.Info("restart requested", "by", req.Source)
	if s.pending != nil || s.check != nil {
		s.queued = true
		if req.Done != nil {
			s.queuedWaiters = append(s.queuedWaiters, req.Done)
		}
		return
	}
	if s.backoffTimer != nil {
		s.backoffTimer.Stop()
		s.backoffTimer = nil
	}
	var waiters []chan<- error
	if req.Done != nil {
		waiters = append(waiters, req.Done)
	}
	s.beginRestart(req.Source, waiters)
}

// beginRestart runs the --check command first, if there is one, and
// otherwise starts the next generation now.
func (s *supervisor) beginRestart(why string, waiters []chan<- error) {
	if s.cfg.Check != "" {
		s.startCheck(why, waiters)
		return
	}
	s.startWith(why, waiters)
}

// start starts a generation with no one waiting for it.
func (s *supervisor) start(why string) error { return s.startWith(why, nil) }

// startWith starts the next generation, for every worker slot, as the
// pending one. If it cannot start, the waiters hear why and, when a slot is
// left empty, a retry is scheduled.
func (s *supervisor) startWith(why string, waiters []chan<- error) error {
	all := make([]int, s.cfg.Workers)
	for i := range all {
		all[i] = i
	}
	return s.startSlots(why, waiters, all)
}

// afterFailure runs after a start failed or a starting generation was
// rolled back: run the restart that was queued, if any, or else, with a
// slot empty (nothing serving, with one worker), try again after a backoff.
func (s *supervisor) afterFailure() {
	if s.stopping {
		return
	}
	if s.queued {
		s.runQueued()
		return
	}
	if len(s.emptySlots()) > 0 {
		s.scheduleBackoff()
	}
}

func (s *supervisor) runQueued() {
	if !s.queued || s.stopping {
		return
	}
	s.queued = false
	waiters := s.queuedWaiters
	s.queuedWaiters = nil
	s.beginRestart("queued restart", waiters)
}

func (s *supervisor) scheduleBackoff() {
	if s.backoffTimer != nil {
		return
	}
	d := s.backoff
	s.backoff = min(2*s.backoff, DefaultBackoffMax)
	if len(s.serving()) == 0 {
		s.log.Warn("nothing serving: starting again after backoff", "backoff", d)
	} else {
		s.log.Warn("replacing crashed workers after backoff", "backoff", d, "workers", s.emptySlots())
	}
	s.backoffTimer = s.after(d, backoffEvent{})
}

// onReady records that a worker of the pending generation is ready. In a
// rolling start it takes over its slot at once and the next worker starts;
// otherwise the generation takes over every slot once all its workers are
// ready. Either way the old workers are stopped as they are replaced.
func (s *supervisor) onReady(w *worker, how string) {
	g := w.g
	if g != s.pending || w.state != starting {
		return
	}
	w.stopReadyTimers()
	s.killProbe(w)
	w.state = ready
	w.readyAt = time.Now()
	if !s.rolloutDone(g) {
		s.log.Info("worker ready", "gen", g.n, "worker", w.slot, "pid", w.mainPID, "after", w.readyAt.Sub(w.started).Round(time.Millisecond), "how", how)
		if g.rolling {
			s.install(w)
			s.startNext(g)
		}
		return
	}
	g.state = ready
	g.readyAt = time.Now()
	s.pending = nil
	attrs := []any{"gen", g.n, "pid", g.pid(), "after", g.readyAt.Sub(g.started).Round(time.Millisecond).String(), "how", how}
	if s.cfg.Workers > 1 {
		attrs = append(attrs, "workers", len(g.workers), "pids", pids(g.workers))
	}
	s.log.Info("generation ready", attrs...)
	for _, w := range g.workers {
		s.install(w)
	}
	if g.why != firstStart && g.why != crashRestart {
		s.hist.restarts++
	}
	s.hist.restartEnded(g.n, ResultOK, "")
	s.tell("READY=1", fmt.Sprintf("STATUS=serving: generation %d pid=%d", g.n, g.pid()))
	g.answer(nil)
	s.afterFailure()
}

// rollback kills the workers of the pending generation that are not ready.
// Whatever serves goes on serving: in a rolling start, that is the new
// workers already in their slots and the old ones of every other slot.
func (s *supervisor) rollback(g *generation, reason string) {
	if g != s.pending {
		return
	}
	s.pending = nil
	pid := 0
	var kept []int
	for _, w := range g.workers {
		switch {
		case w.state == starting:
			if pid == 0 {
				pid = w.pid
			}
			w.stopReadyTimers()
			s.killProbe(w)
			w.state = draining
			unix.Kill(-w.pid, unix.SIGKILL)
		case w.state == ready && s.slots[w.slot] == w:
			kept = append(kept, w.slot)
		}
	}
	err := fmt.Errorf("generation %d rolled back: %s", g.n, reason)
	s.hist.rollbacks++
	s.hist.restartEnded(g.n, ResultRolledBack, reason)
	if serving := s.serving(); len(serving) > 0 {
		s.log.Error("generation rolled back", "gen", g.n, "pid", pid, "reason", reason, "serving", serving[0].g.n)
		s.tell("READY=1", fmt.Sprintf("STATUS=serving: generation %d; generation %d rolled back: %s", serving[0].g.n, g.n, reason))
	} else {
		s.log.Error("generation failed before ready", "gen", g.n, "pid", pid, "reason", reason)
		s.tell(fmt.Sprintf("STATUS=generation %d failed before ready: %s", g.n, reason))
	}
	g.state = draining
	if len(kept) > 0 {
		g.state = ready
		s.log.Error("rollout stopped: the workers already replaced keep serving, the others keep their old generation",
			"gen", g.n, "new_workers", kept, "slots", s.slotGens())
		err = fmt.Errorf("generation %d rolled back: %s; rollout stopped: workers %v run generation %d, the others their old generation", g.n, reason, kept, g.n)
	}
	g.answer(err)
	s.afterFailure()
}

// stop asks every worker of g to stop and arms the kill of its group.
func (s *supervisor) stop(g *generation, why string) {
	if g == s.pending {
		s.pending = nil
		g.answer(ErrStopping)
		s.hist.restartEnded(g.n, ResultCancelled, ErrStopping.Error())
	}
	for _, w := range g.workers {
		s.stopWorker(w, why)
	}
	g.state = draining
}

// stopWorker asks w's main process to stop and arms the kill of its group.
func (s *supervisor) stopWorker(w *worker, why string) {
	if w.state == draining || w.state == exited {
		return
	}
	if s.slots[w.slot] == w {
		s.slots[w.slot] = nil
	}
	if w.state == starting {
		w.stopReadyTimers()
		s.killProbe(w)
	}
	w.state = draining
	s.settle(w.g)
	msg := "stopping generation"
	if s.cfg.Workers > 1 {
		msg = "stopping worker"
	}
	s.log.Info(msg, append(s.attrs(w), "signal", signame(s.cfg.StopSignal), "why", why, "timeout", s.cfg.StopTimeout)...)
	if err := w.signalMain(s.cfg.StopSignal); err != nil && !w.mainExited {
		s.log.Warn("stop signal", append(s.attrs(w), "err", err)...)
	}
	s.armStopTimer(w)
}

func (s *supervisor) armStopTimer(w *worker) {
	if w.stopTimer == nil {
		w.stopAt = time.Now().Add(s.cfg.StopTimeout)
		w.stopTimer = s.after(s.cfg.StopTimeout, timerEvent{w, timerStop})
	}
}

func (s *supervisor) shutdown(why string) {
	s.stopping = true
	s.log.Info("stopping", "why", why)
	s.tell("STOPPING=1", "STATUS=stopping: "+why)
	if s.backoffTimer != nil {
		s.backoffTimer.Stop()
		s.backoffTimer = nil
	}
	for _, w := range s.queuedWaiters {
		w <- ErrStopping
	}
	s.queuedWaiters, s.queued = nil, false
	s.stopCheck()
	if serving := s.serving(); len(serving) > 0 {
		s.final = serving[0]
	} else if s.pending != nil && len(s.pending.workers) > 0 {
		s.final = s.pending.workers[0]
	}
	for _, g := range s.gens {
		s.stop(g, why)
	}
}

func (s *supervisor) onTimer(ev timerEvent) {
	w := ev.w
	switch ev.kind {
	case timerReadyDelay:
		s.onReady(w, "alive for "+s.cfg.Ready.Delay.String())
	case timerReadyTimeout:
		if w.g == s.pending && w.state == starting {
			s.rollback(w.g, fmt.Sprintf("%snot ready after %v (--ready %s)", s.who(w), s.cfg.ReadyTimeout, s.cfg.Ready))
		}
	case timerProbe:
		w.probeTimer = nil
		if w.g == s.pending && w.state == starting {
			s.probe(w)
		}
	case timerStop:
		if w.state != exited && (s.alive(w) || w.mainAlive()) {
			attrs := []any{"gen", w.g.n}
			if s.cfg.Workers > 1 {
				attrs = append(attrs, "worker", w.slot)
			}
			s.log.Warn("stop timeout: killing the process group", append(attrs, "pgid", w.pid, "pid", w.mainPID, "timeout", s.cfg.StopTimeout)...)
			s.kill(w)
		}
		if w.state != exited {
			w.killTimer = s.after(killGrace, timerEvent{w, timerKilled})
		}
	case timerKilled:
		w.killTimer = nil
		s.afterKill(w)
	}
}

func (s *supervisor) probe(w *worker) {
	pid, err := s.startProbe(w)
	if err != nil {
		s.log.Warn("readiness probe did not start", "gen", w.g.n, "pid", w.mainPID, "err", err)
		w.probeTimer = s.after(DefaultProbeInterval, timerEvent{w, timerProbe})
		return
	}
	w.probePID = pid
}

func (s *supervisor) killProbe(w *worker) {
	if w.probePID != 0 {
		unix.Kill(-w.probePID, unix.SIGKILL)
	}
}

func (s *supervisor) onExit(e exit) {
	defer s.sweep()
	if s.selfTest != nil && e.pid == s.selfTest.pid {
		s.onSelfTestExit(e.status)
		return
	}
	if s.check != nil && e.pid == s.check.pid {
		s.onCheckExit(e.status)
		return
	}
	for _, g := range s.gens {
		for _, w := range g.workers {
			switch e.pid {
			case w.probePID:
				w.probePID = 0
				if e.status.Exited() && e.status.ExitStatus() == 0 {
					s.onReady(w, "probe exited 0")
				} else if g == s.pending && w.state == starting {
					w.probeTimer = s.after(DefaultProbeInterval, timerEvent{w, timerProbe})
				}
				return
			case w.mainPID:
				if !s.exitBeforeExec(w, e.status) {
					s.onMainExit(w, e.status)
				}
				return
			case w.pid:
				// The first process of a child that named another one its
				// main process with MAINPID=: its exit is expected.
				s.log.Debug("process exited", "gen", g.n, "pid", e.pid, "status", describe(e.status))
				return
			}
		}
	}
	s.log.Debug("reaped orphan", "pid", e.pid, "status", describe(e.status))
}

func (s *supervisor) onMainExit(w *worker, status syscall.WaitStatus) {
	w.mainExited = true
	w.status = status
	how := describe(status)
	if w.statusUnknown {
		how = "exited (reaped by another process: status unknown)"
	}
	w.g.lastExit = how
	switch {
	case w.state == starting:
		reason := s.who(w) + "exited before ready: " + how
		if !w.statusUnknown && status.Exited() && status.ExitStatus() == 0 {
			reason += " (a program that daemonizes must be run in the foreground, or name its main process with MAINPID=)"
		}
		s.rollback(w.g, reason)
	case w.state == ready:
		if s.slots[w.slot] == w {
			s.slots[w.slot] = nil
		}
		st := status
		s.lastExit = &st
		w.state = draining
		s.settle(w.g)
		if s.stopping {
			break
		}
		s.hist.crashes++
		s.log.Error("child crashed", append(s.attrs(w), "status", how, "ready_for", time.Since(w.readyAt).Round(time.Millisecond))...)
		s.tell(fmt.Sprintf("STATUS=generation %d worker %d crashed (%s); starting another", w.g.n, w.slot, how))
		if time.Since(w.readyAt) >= DefaultBackoffReset {
			s.backoff = DefaultBackoffMin
		}
		if s.pending == nil {
			s.scheduleBackoff()
		}
	default:
		s.log.Info("generation exited", append(s.attrs(w), "status", how)...)
	}
	// Whatever is left of the group (or went elsewhere) is told to stop,
	// then killed.
	if s.alive(w) {
		s.signalLeft(w, s.cfg.StopSignal)
		s.armStopTimer(w)
	}
}

// kill SIGKILLs whatever is left of w (see signalLeft) and its main
// process.
func (s *supervisor) kill(w *worker) {
	s.signalLeft(w, unix.SIGKILL)
	if !w.mainExited {
		w.signalMain(unix.SIGKILL)
	}
}

// afterKill looks at w killGrace after its stop timeout killed it. A main
// process that is gone although the reaper never reported it (another
// process of the generation reaped it) counts as exited, so that w is
// forgotten instead of draining forever; anything still alive is killed
// again.
func (s *supervisor) afterKill(w *worker) {
	if w.state == exited {
		return
	}
	if !w.mainExited && !w.mainAlive() {
		w.statusUnknown = true
		s.onMainExit(w, 0)
	}
	if s.alive(w) || w.mainAlive() {
		s.kill(w)
		w.killTimer = s.after(killGrace, timerEvent{w, timerKilled})
	}
	s.sweep()
}

// sweep forgets workers, and generations, with no process left.
func (s *supervisor) sweep() {
	live := s.gens[:0]
	for _, g := range s.gens {
		left := g.workers[:0]
		for _, w := range g.workers {
			if w.mainExited && w.probePID == 0 && !s.alive(w) {
				w.state = exited
				s.guard.Remove(w.pid)
				s.contain.forget(w)
				w.stopReadyTimers()
				for _, t := range []*time.Timer{w.stopTimer, w.killTimer} {
					if t != nil {
						t.Stop()
					}
				}
				w.closeMain()
				continue
			}
			left = append(left, w)
		}
		g.workers = left
		if len(left) == 0 && g != s.pending {
			g.state = exited
			s.hist.forget(g)
			continue
		}
		live = append(live, g)
	}
	s.gens = live
}

func (s *supervisor) onNotify(m notifyMessage) {
	w, _ := s.ownerOf(m.pid, os.Getpid())
	if w == nil {
		s.log.Debug("notify message from a process of no generation", "pid", m.pid)
		return
	}
	g := w.g
	if st, ok := m.fields["STATUS"]; ok {
		s.log.Info("child status", "gen", g.n, "pid", m.pid, "status", st)
	}
	if v, ok := m.fields["MAINPID"]; ok {
		s.nameMain(w, m.pid, v)
	}
	if m.fields["STOPPING"] == "1" {
		s.log.Info("child is stopping", "gen", g.n, "pid", m.pid)
	}
	if m.fields["READY"] == "1" && s.cfg.Ready.Kind == ReadyNotify {
		s.onReady(w, "READY=1")
	}
}

func (s *supervisor) exitCode() int {
	switch {
	case s.final != nil && s.final.mainExited:
		return exitCode(s.final.status)
	case s.lastExit != nil:
		return exitCode(*s.lastExit)
	}
	return 0
}

func isOneOf(sig os.Signal, set []os.Signal) bool {
	for _, s := range set {
		if s == sig {
			return true
		}
	}
	return false
}

func signame(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(s); name != "" {
			return name
		}
	}
	return sig.String()
}

// tell sends an sd_notify message to zedr-run's own service manager, if any.
func (s *supervisor) tell(lines ...string) {
	if err := s.outer.send(lines...); err != nil {
		s.log.Debug("notify the service manager", "socket", s.outer.addr, "err", err)
	}
}
