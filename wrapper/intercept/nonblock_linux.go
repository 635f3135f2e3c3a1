package intercept

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setNonblock applies the O_NONBLOCK policy (see the package doc) to held
// socket i, now bound by generation gen whose own socket had O_NONBLOCK on:
// the flag follows the caller only while no other generation holds the
// socket; otherwise the shared file is left as it is.
func (ic *Interceptor) setNonblock(i, gen int, on bool) error {
	h := &ic.held[i]
	ic.mu.Lock()
	holders := ic.holders[i]
	if holders == nil {
		holders = map[int]bool{}
		ic.holders[i] = holders
	}
	other := 0
	for g := range holders {
		if g != gen {
			other = g
			break
		}
	}
	holders[gen] = true
	ic.mu.Unlock()
	fl, err := unix.FcntlInt(uintptr(h.fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("socket %s: fcntl F_GETFL: %w", h.sock.Spec, err)
	}
	if other != 0 {
		if now := fl&unix.O_NONBLOCK != 0; now != on {
			ic.log.Info("shared socket keeps the O_NONBLOCK flag of the generation that holds it: the new one gets it as is",
				"spec", h.sock.Spec.String(), "gen", gen, "nonblock_wanted", on, "nonblock", now, "held_by_gen", other)
		}
		return nil
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

// released forgets generation gen as a holder of every socket: no process
// of it is left.
func (ic *Interceptor) released(gen int) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	for _, holders := range ic.holders {
		delete(holders, gen)
	}
}
