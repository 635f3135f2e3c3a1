package wrapper

import (
	"errors"
	"strings"
	"time"
)

// Readiness says when a new generation counts as ready to serve.
type Readiness struct {
	Kind    string        // ReadyNotify, ReadyDelay, ReadyExec or ReadyListen
	Delay   time.Duration // ReadyDelay: how long the child must stay alive
	Command string        // ReadyExec: a command (see ParseCommand) that exits 0 once the child serves
}

// The kinds of readiness.
const (
	ReadyNotify = "notify" // READY=1 on NOTIFY_SOCKET, from any process of the generation
	ReadyDelay  = "delay"  // alive for Delay
	ReadyExec   = "exec"   // a probe command exits 0; it gets ZEDR_PID
	ReadyListen = "listen" // transparent mode: the child took every socket (listen(), or bind() of a datagram socket)
)

// DefaultReadiness works for every program, including ones that know
// nothing of sd_notify: a child that survives its first second has got past
// loading its configuration and opening its files, which is where broken
// deployments fail. The sockets are held by zedr-run, so a child that needs
// a little longer to accept costs queued connections some latency, never a
// refusal. Programs that speak sd_notify should use --ready notify.
var DefaultReadiness = Readiness{Kind: ReadyDelay, Delay: time.Second}

// ParseReadiness parses a readiness: notify, delay:DURATION, exec:CMD or
// listen. Its error says what is wrong with s; the caller names s.
func ParseReadiness(s string) (Readiness, error) {
	kind, arg, hasArg := strings.Cut(s, ":")
	switch kind {
	case ReadyNotify:
		if hasArg {
			return Readiness{}, errors.New("notify takes no argument")
		}
		return Readiness{Kind: ReadyNotify}, nil
	case ReadyListen:
		if hasArg {
			return Readiness{}, errors.New("listen takes no argument")
		}
		return Readiness{Kind: ReadyListen}, nil
	case ReadyDelay:
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return Readiness{}, errors.New("want delay:DURATION such as delay:1s or delay:500ms")
		}
		return Readiness{Kind: ReadyDelay, Delay: d}, nil
	case ReadyExec:
		if strings.TrimSpace(arg) == "" {
			return Readiness{}, errors.New("want exec:COMMAND such as 'exec:curl -fs http://127.0.0.1:8080/health' or 'exec:[\"/probe\",\"--fast\"]'")
		}
		if _, err := ParseCommand(arg); err != nil {
			return Readiness{}, err
		}
		return Readiness{Kind: ReadyExec, Command: arg}, nil
	}
	return Readiness{}, errors.New("want notify, delay:DURATION, exec:COMMAND or listen")
}

func (r Readiness) String() string {
	switch r.Kind {
	case ReadyDelay:
		return ReadyDelay + ":" + r.Delay.String()
	case ReadyExec:
		return ReadyExec + ":" + r.Command
	}
	return r.Kind
}
