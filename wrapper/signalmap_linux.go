package wrapper

import (
	"fmt"
	"os"
	"syscall"
)

// Signal mapping (dumb-init's --rewrite): a signal zedr-run receives may be
// sent on to the children as another signal, start a zero-downtime
// restart, or be ignored, instead of being forwarded as it is. SIGTERM and
// SIGINT (stop) and the restart signals are never mapped; main refuses
// such maps.

// SignalAction says what a mapped signal does.
type SignalAction struct {
	// Kind is MapSignal, MapRestart or MapIgnore.
	Kind string
	// Signal is what the serving children get, with MapSignal.
	Signal syscall.Signal
}

// The kinds of SignalAction, spelled as --map-signal's TO.
const (
	MapSignal  = "signal"  // forward another signal to the serving children
	MapRestart = "restart" // a zero-downtime restart
	MapIgnore  = "ignore"  // nothing at all
)

func (a SignalAction) String() string {
	if a.Kind == MapSignal {
		return signame(a.Signal)
	}
	return a.Kind
}

// mapSignal acts on sig as Config.SignalMap says, and reports whether it
// was mapped.
func (s *supervisor) mapSignal(sig os.Signal) bool {
	a, ok := s.cfg.SignalMap[sig]
	if !ok {
		return false
	}
	from := "signal " + signame(sig)
	switch a.Kind {
	case MapRestart:
		s.requestRestart(Request{Source: from})
	case MapIgnore:
		s.log.Info("signal ignored, as mapped", "signal", signame(sig))
	case MapSignal:
		s.forward(a.Signal, fmt.Sprintf("%s mapped to %s", from, signame(a.Signal)))
	}
	return true
}

// forward sends sig to every serving worker's main process.
func (s *supervisor) forward(sig syscall.Signal, why string) {
	serving := s.serving()
	if len(serving) == 0 {
		s.log.Warn("no child serving to forward the signal to", "signal", signame(sig), "why", why)
		return
	}
	for _, w := range serving {
		if err := s.fx.signalMain(w, sig); err != nil {
			s.log.Warn("forward signal", append([]any{"signal", signame(sig)}, append(s.attrs(w), "err", err)...)...)
		}
	}
}
