package intercept

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setNonblock applies the O_NONBLOCK policy to held socket i for generation gen.
func (ic *Interceptor) setNonblock(i, gen int, on bool) error {
	ic.mu.Lock()
	prev, seen := ic.nonblock[i]
	ic.nonblock[i] = nonblockOwner{on: on, gen: gen}
	ic.mu.Unlock()
	h := &ic.held[i]
	if seen && prev.on != on && prev.gen != gen {
		ic.log.Warn("generations disagree on O_NONBLOCK for a shared socket: the older one may misbehave until it stops",
			"spec", h.sock.Spec.String(), "gen", gen, "nonblock", on, "older_gen", prev.gen, "older_nonblock", prev.on)
	}
	fl, err := unix.FcntlInt(uintptr(h.fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("socket %s: fcntl F_GETFL: %w", h.sock.Spec, err)
	}
	want := fl &^ unix.O_NONBLOCK
	if on {
		want |= unix.O_NONBLOCK
	}
	if want != fl {
		if _, err := unix.FcntlInt(uintptr(h.fd), unix.F_SETFL, want); err != nil {
			return fmt.Errorf("socket %s: fcntl F_SETFL: %w", h.sock.Spec, err)
		}
	}
	return nil
}
