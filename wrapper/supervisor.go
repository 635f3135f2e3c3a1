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
)

// ErrStopping answers restart requests that arrive while zedr-run stops.
var ErrStopping = errors.New("zedr-run is stopping")

// timerKind says which of a generation's timers fired.
type timerKind int

const (
	timerReadyDelay   timerKind = iota // delay: readiness reached
	timerReadyTimeout                  // not ready in time
	timerProbe                         // run the exec: probe again
	timerStop                          // stop timeout: kill the process group
)

type timerEvent struct {
	g    *generation
	kind timerKind
}

type backoffEvent struct{}

type supervisor struct {
	cfg       Config
	log       *slog.Logger
	notify    *notifySocket
	intercept *interceptor // transparent mode, or nil
	events    chan any
	done      chan struct{}

	gens    []*generation // every generation with a process left, oldest first
	current *generation   // the ready one serving, or nil
	pending *generation   // the one starting, or nil
	nextGen int

	queued        bool           // a restart waits for the pending one
	queuedWaiters []chan<- error // and these want to hear how it went

	backoff      time.Duration
	backoffTimer *time.Timer

	stopping bool
	final    *generation         // whose status zedr-run exits with
	lastExit *syscall.WaitStatus // of the last main process that ended on its own
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
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("become a child subreaper: %w", err)
	}
	notify, err := listenNotify(cfg.NotifyDir)
	if err != nil {
		return 0, err
	}
	defer notify.Close()

	s := &supervisor{
		cfg:     cfg,
		log:     cfg.Logger,
		notify:  notify,
		events:  make(chan any, 64),
		done:    make(chan struct{}),
		nextGen: 1,
		backoff: DefaultBackoffMin,
	}
	defer close(s.done)
	go reap(s.done, func(e exit) { s.post(e) })
	go notify.serve(func(m notifyMessage) { s.post(m) })

	if err := s.start("first start"); err != nil {
		return 0, err
	}
	return s.loop(ctx), nil
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

func (s *supervisor) loop(ctx context.Context) int {
	ctxDone := ctx.Done()
	for {
		if s.stopping && len(s.gens) == 0 {
			return s.exitCode()
		}
		select {
		case <-ctxDone:
			ctxDone = nil
			s.shutdown("context done")
		case sig := <-s.cfg.Signals:
			s.onSignal(sig)
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
			case listenEvent:
				s.onListen(ev)
			case backoffEvent:
				s.backoffTimer = nil
				if !s.stopping && s.current == nil && s.pending == nil {
					s.start("crash restart")
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
				unix.Kill(-g.pid, unix.SIGKILL)
			}
			return
		}
		s.shutdown("signal " + signame(sig))
	case isOneOf(sig, s.cfg.RestartSignals):
		s.requestRestart(Request{Source: "signal " + signame(sig)})
	default:
		if s.current == nil {
			s.log.Warn("no child serving to forward the signal to", "signal", signame(sig))
			return
		}
		if err := unix.Kill(s.current.mainPID, sig.(syscall.Signal)); err != nil {
			s.log.Warn("forward signal", "signal", signame(sig), "gen", s.current.n, "pid", s.current.mainPID, "err", err)
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
	if s.pending != nil {
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
	s.startWith(req.Source, waiters)
}

// start starts a generation with no one waiting for it.
func (s *supervisor) start(why string) error { return s.startWith(why, nil) }

// startWith starts the next generation as the pending one. If it cannot
// start, the waiters hear why and, when nothing serves, a retry is scheduled.
func (s *supervisor) startWith(why string, waiters []chan<- error) error {
	n := s.nextGen
	s.nextGen++
	pid, err := s.startChild(n)
	if err != nil {
		if pid != 0 {
			s.gens = append(s.gens, &generation{n: n, pid: pid, mainPID: pid, state: draining, started: time.Now()})
		}
		s.log.Error("generation failed to start", "gen", n, "why", why, "err", err)
		for _, w := range waiters {
			w <- err
		}
		if n == 1 {
			return err
		}
		s.afterFailure()
		return err
	}
	g := &generation{n: n, pid: pid, mainPID: pid, state: starting, started: time.Now(), waiters: waiters}
	s.gens = append(s.gens, g)
	s.pending = g
	s.log.Info("generation started", "gen", n, "pid", pid, "why", why, "ready", s.cfg.Ready.String())
	g.readyTimer = s.after(s.cfg.ReadyTimeout, timerEvent{g, timerReadyTimeout})
	switch s.cfg.Ready.Kind {
	case ReadyDelay:
		g.delayTimer = s.after(s.cfg.Ready.Delay, timerEvent{g, timerReadyDelay})
	case ReadyExec:
		s.probe(g)
	}
	return nil
}

// afterFailure runs after a start failed or a starting generation was
// rolled back: with nothing serving, try again after a backoff; otherwise
// run the restart that was queued, if any.
func (s *supervisor) afterFailure() {
	if s.stopping {
		return
	}
	if s.current == nil {
		if s.queued {
			s.queued = false
			waiters := s.queuedWaiters
			s.queuedWaiters = nil
			s.startWith("queued restart", waiters)
			return
		}
		s.scheduleBackoff()
		return
	}
	s.runQueued()
}

func (s *supervisor) runQueued() {
	if !s.queued || s.stopping {
		return
	}
	s.queued = false
	waiters := s.queuedWaiters
	s.queuedWaiters = nil
	s.startWith("queued restart", waiters)
}

func (s *supervisor) scheduleBackoff() {
	if s.backoffTimer != nil {
		return
	}
	d := s.backoff
	s.backoff = min(2*s.backoff, DefaultBackoffMax)
	s.log.Warn("nothing serving: starting again after backoff", "backoff", d)
	s.backoffTimer = s.after(d, backoffEvent{})
}

// onReady makes the pending generation the current one and stops the old.
func (s *supervisor) onReady(g *generation, how string) {
	if g != s.pending || g.state != starting {
		return
	}
	g.stopReadyTimers()
	s.killProbe(g)
	g.state = ready
	g.readyAt = time.Now()
	s.pending = nil
	old := s.current
	s.current = g
	s.log.Info("generation ready", "gen", g.n, "pid", g.mainPID, "after", g.readyAt.Sub(g.started).Round(time.Millisecond), "how", how)
	if old != nil {
		s.stop(old, fmt.Sprintf("replaced by generation %d", g.n))
	}
	g.answer(nil)
	s.runQueued()
}

// rollback kills a generation that did not become ready; whatever serves
// goes on serving.
func (s *supervisor) rollback(g *generation, reason string) {
	if g != s.pending {
		return
	}
	g.stopReadyTimers()
	s.killProbe(g)
	s.pending = nil
	g.state = draining
	unix.Kill(-g.pid, unix.SIGKILL)
	err := fmt.Errorf("generation %d rolled back: %s", g.n, reason)
	if s.current != nil {
		s.log.Error("generation rolled back", "gen", g.n, "pid", g.pid, "reason", reason, "serving", s.current.n)
	} else {
		s.log.Error("generation failed before ready", "gen", g.n, "pid", g.pid, "reason", reason)
	}
	g.answer(err)
	s.afterFailure()
}

// stop asks g's main process to stop and arms the kill of its group.
func (s *supervisor) stop(g *generation, why string) {
	if g.state == draining || g.state == exited {
		return
	}
	if g == s.current {
		s.current = nil
	}
	if g == s.pending {
		s.pending = nil
		g.stopReadyTimers()
		s.killProbe(g)
		g.answer(ErrStopping)
	}
	g.state = draining
	s.log.Info("stopping generation", "gen", g.n, "pid", g.mainPID, "signal", signame(s.cfg.StopSignal), "why", why, "timeout", s.cfg.StopTimeout)
	if err := unix.Kill(g.mainPID, s.cfg.StopSignal); err != nil && !g.mainExited {
		s.log.Warn("stop signal", "gen", g.n, "pid", g.mainPID, "err", err)
	}
	s.armStopTimer(g)
}

func (s *supervisor) armStopTimer(g *generation) {
	if g.stopTimer == nil {
		g.stopTimer = s.after(s.cfg.StopTimeout, timerEvent{g, timerStop})
	}
}

func (s *supervisor) shutdown(why string) {
	s.stopping = true
	s.log.Info("stopping", "why", why)
	if s.backoffTimer != nil {
		s.backoffTimer.Stop()
		s.backoffTimer = nil
	}
	for _, w := range s.queuedWaiters {
		w <- ErrStopping
	}
	s.queuedWaiters, s.queued = nil, false
	s.final = s.current
	if s.final == nil {
		s.final = s.pending
	}
	for _, g := range s.gens {
		s.stop(g, why)
	}
}

func (s *supervisor) onTimer(ev timerEvent) {
	g := ev.g
	switch ev.kind {
	case timerReadyDelay:
		s.onReady(g, "alive for "+s.cfg.Ready.Delay.String())
	case timerReadyTimeout:
		if g == s.pending && g.state == starting {
			s.rollback(g, fmt.Sprintf("not ready after %v (--ready %s)", s.cfg.ReadyTimeout, s.cfg.Ready))
		}
	case timerProbe:
		g.probeTimer = nil
		if g == s.pending && g.state == starting {
			s.probe(g)
		}
	case timerStop:
		if g.state != exited && groupAlive(g.pid) {
			s.log.Warn("stop timeout: killing the process group", "gen", g.n, "pgid", g.pid, "timeout", s.cfg.StopTimeout)
			unix.Kill(-g.pid, unix.SIGKILL)
		}
	}
}

func (s *supervisor) probe(g *generation) {
	pid, err := s.startProbe(g)
	if err != nil {
		s.log.Warn("readiness probe did not start", "gen", g.n, "err", err)
		g.probeTimer = s.after(DefaultProbeInterval, timerEvent{g, timerProbe})
		return
	}
	g.probePID = pid
}

func (s *supervisor) killProbe(g *generation) {
	if g.probePID != 0 {
		unix.Kill(-g.probePID, unix.SIGKILL)
	}
}

func (s *supervisor) onExit(e exit) {
	defer s.sweep()
	for _, g := range s.gens {
		switch e.pid {
		case g.probePID:
			g.probePID = 0
			if e.status.Exited() && e.status.ExitStatus() == 0 {
				s.onReady(g, "probe exited 0")
			} else if g == s.pending && g.state == starting {
				g.probeTimer = s.after(DefaultProbeInterval, timerEvent{g, timerProbe})
			}
			return
		case g.mainPID:
			s.onMainExit(g, e.status)
			return
		case g.pid:
			// The first process of a child that named another one its
			// main process with MAINPID=: its exit is expected.
			s.log.Debug("process exited", "gen", g.n, "pid", e.pid, "status", describe(e.status))
			return
		}
	}
	s.log.Debug("reaped orphan", "pid", e.pid, "status", describe(e.status))
}

func (s *supervisor) onMainExit(g *generation, status syscall.WaitStatus) {
	g.mainExited = true
	g.status = status
	switch {
	case g.state == starting:
		s.rollback(g, "exited before ready: "+describe(status))
	case g.state == ready:
		s.current = nil
		st := status
		s.lastExit = &st
		g.state = draining
		if s.stopping {
			break
		}
		s.log.Error("child crashed", "gen", g.n, "pid", g.mainPID, "status", describe(status), "ready_for", time.Since(g.readyAt).Round(time.Millisecond))
		if time.Since(g.readyAt) >= DefaultBackoffReset {
			s.backoff = DefaultBackoffMin
		}
		if s.pending == nil {
			s.scheduleBackoff()
		}
	default:
		s.log.Info("generation exited", "gen", g.n, "pid", g.mainPID, "status", describe(status))
	}
	// Whatever is left of the group is told to stop, then killed.
	if groupAlive(g.pid) {
		unix.Kill(-g.pid, s.cfg.StopSignal)
		s.armStopTimer(g)
	}
}

// sweep forgets generations with no process left.
func (s *supervisor) sweep() {
	live := s.gens[:0]
	for _, g := range s.gens {
		if g.mainExited && g.probePID == 0 && !groupAlive(g.pid) {
			g.state = exited
			g.stopReadyTimers()
			if g.stopTimer != nil {
				g.stopTimer.Stop()
			}
			continue
		}
		live = append(live, g)
	}
	s.gens = live
}

func (s *supervisor) onNotify(m notifyMessage) {
	g := s.generationOf(m.pid)
	if g == nil {
		s.log.Debug("notify message from a process of no generation", "pid", m.pid)
		return
	}
	if st, ok := m.fields["STATUS"]; ok {
		s.log.Info("child status", "gen", g.n, "pid", m.pid, "status", st)
	}
	if v, ok := m.fields["MAINPID"]; ok {
		if pid, err := parsePid(v); err == nil && pid != g.mainPID {
			s.log.Info("child named its main process", "gen", g.n, "pid", pid, "was", g.mainPID)
			g.mainPID = pid
		}
	}
	if m.fields["STOPPING"] == "1" {
		s.log.Info("child is stopping", "gen", g.n, "pid", m.pid)
	}
	if m.fields["READY"] == "1" && s.cfg.Ready.Kind == ReadyNotify {
		s.onReady(g, "READY=1")
	}
}

// generationOf finds the generation a process belongs to: by pid, by process
// group, or by walking up its parents.
func (s *supervisor) generationOf(pid int) *generation {
	for range 32 {
		for _, g := range s.gens {
			if pid == g.pid || pid == g.mainPID {
				return g
			}
		}
		if pgid, err := unix.Getpgid(pid); err == nil {
			for _, g := range s.gens {
				if pgid == g.pid {
					return g
				}
			}
		}
		ppid, err := parentOf(pid)
		if err != nil || ppid <= 1 {
			return nil
		}
		pid = ppid
	}
	return nil
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
