package reexec

import (
	"fmt"
	"strings"
)

// Intercept asks the shim to install the transparent mode's seccomp filter
// before it execs the command (zedr-run --intercept-bind).
type Intercept struct {
	Bind   bool // bind(), listen() and getsockopt(SOL_SOCKET, SO_ACCEPTCONN) become notifications for zedr-run
	Unlink bool // so do unlink() and unlinkat(): zedr-run holds a unix socket path
}

// interceptFlag is the shim argument that carries an Intercept. It comes
// before the status fd, so argv without it keeps its old meaning.
const interceptFlag = "--intercept="

// ListenerMessage is the payload of the status channel message that carries
// the seccomp notification fd (SCM_RIGHTS) from the shim to zedr-run.
const ListenerMessage = "seccomp-listener"

func (ic Intercept) arg() string {
	var kinds []string
	if ic.Bind {
		kinds = append(kinds, "bind")
	}
	if ic.Unlink {
		kinds = append(kinds, "unlink")
	}
	return interceptFlag + strings.Join(kinds, ",")
}

func parseIntercept(arg string) (Intercept, error) {
	var ic Intercept
	for _, k := range strings.Split(strings.TrimPrefix(arg, interceptFlag), ",") {
		switch k {
		case "bind":
			ic.Bind = true
		case "unlink":
			ic.Unlink = true
		case "":
		default:
			return ic, fmt.Errorf("bad %s%s: unknown kind %q", interceptFlag, arg, k)
		}
	}
	return ic, nil
}
