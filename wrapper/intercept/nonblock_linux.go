package intercept

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// claim finds the open held socket a bind() of generation g asks for and
// records g as one of its holders, in one step under mu, so that a socket
// is never closed (closeUnused) between its match and its handing over. It
// returns its index and the socket, or -1, and another generation that
// holds it (0 if none), for setNonblock.
func (ic *Interceptor) claim(family, sotype, protocol int, addr string, g *generationTaps) (int, *heldSocket, int) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	i := ic.match(family, sotype, protocol, addr)
	if i < 0 {
		return -1, nil, 0
	}
	h := ic.held[i]
	holders := ic.holders[i]
	if holders == nil {
		holders = map[int]int{}
		ic.holders[i] = holders
	}
	other := 0
	for hg := range holders {
		if hg != g.gen {
			other = hg
			break
		}
	}
	if !g.bound[i] {
		g.bound[i] = true
		holders[g.gen]++
	}
	h.lastGen = max(h.lastGen, g.gen)
	return i, h, other
}

// setNonblock applies the O_NONBLOCK policy (see the package doc) to held
// socket h, now bound by a process of g whose own socket had O_NONBLOCK on:
// the flag follows the caller only while no other generation holds the
// socket (other is 0); otherwise the shared file is left as it is.
func (ic *Interceptor) setNonblock(h *heldSocket, g *generationTaps, other int, on bool) error {
	fl, err := unix.FcntlInt(uintptr(h.fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("socket %s: fcntl F_GETFL: %w", h.spec, err)
	}
	if other != 0 {
		if now := fl&unix.O_NONBLOCK != 0; now != on {
			ic.log.Info("shared socket keeps the O_NONBLOCK flag of the generation that holds it: the new one gets it as is",
				"spec", h.spec, "gen", g.gen, "nonblock_wanted", on, "nonblock", now, "held_by_gen", other)
		}
		return nil
	}
	want := fl &^ unix.O_NONBLOCK
	if on {
		want |= unix.O_NONBLOCK
	}
	if want != fl {
		if _, err := unix.FcntlInt(uintptr(h.fd), unix.F_SETFL, want); err != nil {
			return fmt.Errorf("socket %s: fcntl F_SETFL: %w", h.spec, err)
		}
	}
	return nil
}

// released forgets g's listener as a holder of the sockets it bound: no
// process under it is left. (A generation of several workers has one
// listener per worker.) An adopted socket that no live generation binds any
// more may be closed now (closeUnused).
func (ic *Interceptor) released(g *generationTaps) {
	ic.mu.Lock()
	for i := range g.bound {
		if ic.holders[i][g.gen]--; ic.holders[i][g.gen] <= 0 {
			delete(ic.holders[i], g.gen)
		}
	}
	ic.mu.Unlock()
	ic.closeUnused()
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
