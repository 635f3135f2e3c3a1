package wrapper

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The signals zedr-run receives: stop, restart, or forward to the child.

func (s *supervisor) onSignal(sig os.Signal) {
	switch {
	case sig == unix.SIGTERM || sig == unix.SIGINT:
		if s.stopDelay != nil {
			s.skipStopDelay("second stop signal " + signame(sig))
			return
		}
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
		s.shutdownAfterDelay("signal " + signame(sig))
	case isOneOf(sig, s.cfg.RestartSignals):
		s.requestRestart(Request{Source: "signal " + signame(sig)})
	case s.mapSignal(sig):
	default:
		s.forward(sig.(syscall.Signal), "signal "+signame(sig))
	}
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
	if err := s.outer.Send(lines...); err != nil {
		s.log.Debug("notify the service manager", "socket", s.outer.Addr(), "err", err)
	}
}
