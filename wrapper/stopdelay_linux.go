package wrapper

import "time"

// The stop delay: on SIGTERM zedr-run says at once that it is stopping
// (Status.Stopping, STOPPING=1 to the service manager, `zedr-run status`
// exits 3) but goes on serving for Config.StopDelay, so that an
// orchestrator that sent the SIGTERM while it removes zedr-run from its
// load balancer's endpoints (Kubernetes does both at once) sends no
// request to a server already gone. Then the usual graceful stop. A second
// SIGTERM, or `zedr-run stop`, skips what is left of the delay. The delay
// is a timer event: the loop goes on handling everything meanwhile.

// DefaultStopDelay is none: outside an orchestrator nothing needs it, and a
// stop should not wait for nothing.
const DefaultStopDelay = time.Duration(0)

// stopDelayOver is the stop delay's timer.
type stopDelayOver struct{ why string }

// shutdownAfterDelay stops zedr-run, after the stop delay if there is one.
func (s *supervisor) shutdownAfterDelay(why string) {
	if s.cfg.StopDelay <= 0 {
		s.shutdown(why)
		return
	}
	s.beginShutdown(why)
	s.log.Info("serving on for the stop delay before stopping", "delay", s.cfg.StopDelay, "until", time.Now().Add(s.cfg.StopDelay).Format(time.RFC3339Nano))
	s.stopDelay = s.after(s.cfg.StopDelay, stopDelayOver{why})
}

func (s *supervisor) onStopDelayOver(ev stopDelayOver) {
	if s.stopDelay == nil {
		return
	}
	s.stopDelay = nil
	s.log.Info("stop delay over", "delay", s.cfg.StopDelay)
	s.stopAll(ev.why)
}

// skipStopDelay ends the stop delay now: the graceful stop begins.
func (s *supervisor) skipStopDelay(by string) {
	s.stopDelay.Stop()
	s.stopDelay = nil
	s.log.Info("stop delay skipped", "by", by)
	s.stopAll(by)
}
