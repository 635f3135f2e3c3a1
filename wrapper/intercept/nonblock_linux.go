package intercept

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setNonblock applies the O_NONBLOCK policy (see the package doc) to held
// socket i, now bound by a process of g whose own socket had O_NONBLOCK on:
// the flag follows the caller only while no other generation holds the
// socket; otherwise the shared file is left as it is.
func (ic *Interceptor) setNonblock(i int, g *generationTaps, on bool) error {
	h := &ic.held[i]
	gen := g.gen
	ic.mu.Lock()
	holders := ic.holders[i]
	if holders == nil {
		holders = map[int]int{}
		ic.holders[i] = holders
	}
	other := 0
	for hg := range holders {
		if hg != gen {
			other = hg
			break
		}
	}
	if !g.bound[i] {
		g.bound[i] = true
		holders[gen]++
	}
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

// released forgets g's listener as a holder of the sockets it bound: no
// process under it is left. (A generation of several workers has one
// listener per worker.)
func (ic *Interceptor) released(g *generationTaps) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	for i := range g.bound {
		if ic.holders[i][g.gen]--; ic.holders[i][g.gen] <= 0 {
			delete(ic.holders[i], g.gen)
		}
	}
}

// Holds reports whether a process of generation gen has bound a held
// socket and is still running: that generation may have accepted
// connections on it.
func (ic *Interceptor) Holds(gen int) bool {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	for _, holders := range ic.holders {
		if holders[gen] > 0 {
			return true
		}
	}
	return false
}
