package wrapper

import (
	"context"
	"time"
)

// post hands an event to the loop; after the loop has ended it drops it,
// closing the descriptors a notify message carried.
func (s *supervisor) post(ev event) {
	select {
	case <-s.done:
		dropEvent(ev)
		return
	default:
	}
	select {
	case s.events <- ev:
	case <-s.done:
		dropEvent(ev)
	}
}

// dropEvent closes what an event that no loop will handle holds: the
// descriptors of a notify message.
func dropEvent(ev event) {
	switch ev := ev.(type) {
	case notifyMessage:
		for _, f := range ev.fds {
			f.Close()
		}
	case spareStarted:
		if ev.status != nil {
			ev.status.Close()
		}
	}
}

// dropQueued drops the events still queued once the loop has ended.
func (s *supervisor) dropQueued() {
	for {
		select {
		case ev := <-s.events:
			dropEvent(ev)
		default:
			return
		}
	}
}

func (s *supervisor) after(d time.Duration, ev event) timer { return s.fx.after(d, ev) }

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
		case ev := <-s.events:
			s.handle(ev)
		}
	}
}

// handle dispatches one event to its handler; see events.go for who sends
// each. Only the loop, and tests driving the state machine, call it.
func (s *supervisor) handle(ev event) {
	switch ev := ev.(type) {
	case exitEvent:
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
		if s.stopDelay != nil {
			s.skipStopDelay(ev.by)
		} else if !s.stopping {
			s.shutdown(ev.by)
		}
	case stopDelayOver:
		s.onStopDelayOver(ev)
	case checkOutput:
		s.onCheckOutput(ev)
	case checkTimeout:
		s.onCheckTimeout(ev)
	case listenEvent:
		s.onListen(ev)
	case adoptEvent:
		s.onAdopt(ev)
	case mainGone:
		s.onMainGone(ev)
	case execNow:
		s.onExecNow()
	case forceExit:
		s.exitNow = true
	case execEvent:
		s.onExec(ev)
	case backoffEvent:
		s.onBackoff()
	case fdHangup:
		s.onFDHangup(ev)
	case watchdogPing:
		s.onWatchdogPing()
	case spareStarted:
		s.onSpareStarted(ev)
	case spareDue:
		s.onSpareDue(ev)
	}
	s.dropStaleSpare()
}

// onBackoff starts a generation for the empty slots once the crash backoff
// has passed, unless something else fills them first.
func (s *supervisor) onBackoff() {
	s.backoffTimer = nil
	if empty := s.emptySlots(); !s.stopping && s.pending == nil && s.check == nil && len(empty) > 0 {
		s.limit.countRestart(s.fx.now())
		s.startSlots(crashRestart, nil, empty)
	}
}
