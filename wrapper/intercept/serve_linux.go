package intercept

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
	"zedr-run/reexec"
)

// maxStatusMessage bounds the shim's first message on the status channel:
// reexec.ListenerMessage, or why the shim failed.
const maxStatusMessage = 4096

// Recv receives one message of a shim's status channel, as recvmsg(2) with
// MSG_CMSG_CLOEXEC into buf and oob, waiting as long as the caller allows:
// n == 0 means the shim's end was closed.
type Recv func(buf, oob []byte) (n, oobn int, err error)

// Receive takes the seccomp listener of generation gen, started as pid,
// from its shim's first message on the status channel (reexec.ListenerMessage
// with the listener as SCM_RIGHTS), and serves it on a goroutine of its own
// until no process of that generation is left, then closes it. It returns
// nil once serving has started; otherwise the error recv returned, or the
// shim's own error message (then no listener was kept). It runs on the
// caller's goroutine and waits for recv.
func (ic *Interceptor) Receive(recv Recv, gen, pid int) error {
	buf := make([]byte, maxStatusMessage)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, err := recv(buf, oob)
	if err != nil {
		return err
	}
	listener := -1
	if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range cmsgs {
			if fds, err := unix.ParseUnixRights(&m); err == nil {
				for _, f := range fds {
					if listener < 0 {
						listener = f
					} else {
						unix.Close(f)
					}
				}
			}
		}
	}
	switch {
	case listener >= 0 && reexec.IsListenerMessage(buf[:n]):
		go ic.serve(listener, gen, pid)
		return nil
	case listener >= 0:
		unix.Close(listener)
	case n == 0:
		return errors.New("the shim exec'd the command without the seccomp filter")
	}
	return errors.New(string(buf[:n]))
}

// generationTaps is what one generation's goroutine knows: which held
// sockets it has taken, for --ready listen, and, when adopting, the binds
// it has seen whose sockets may yet be adopted.
type generationTaps struct {
	gen, pid int
	taken    map[int]int  // index in held -> the child's fd
	bound    map[int]bool // index in held -> bound under this listener (for the holders, behind Interceptor.mu)
	expect   map[int]bool // index in held -> open when the generation started: what it is expected to take
	reported bool
	lastTake time.Time // when it last took a socket (adopting: the settle runs from there)

	binds   bindRecords  // stream binds to a fixed address, by socket inode, until listen()
	pending []udpPending // UDP binds to a fixed port, until they are seen done
}

// serve answers the notifications of generation gen (started as pid) on
// listener until no process of it is left, then closes listener.
func (ic *Interceptor) serve(listener, gen, pid int) {
	g := &generationTaps{gen: gen, pid: pid, taken: map[int]int{}, bound: map[int]bool{}, expect: map[int]bool{}}
	ic.mu.Lock()
	for i, h := range ic.held {
		if !h.closed {
			g.expect[i] = true
		}
	}
	ic.mu.Unlock()
	defer func() {
		unix.Close(listener)
		g.dropPending()
		ic.released(g)
		if ic.closed != nil {
			ic.closed(gen)
		}
	}()
	fds := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
	var n seccomp.Notif
	for {
		fds[0].Revents = 0
		ready, err := unix.Poll(fds, ic.wait(g, time.Now()))
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			ic.log.Error("seccomp listener: poll", "gen", gen, "err", err)
			return
		}
		if ready == 0 || fds[0].Revents&unix.POLLIN == 0 {
			ic.tick(g, time.Now())
			if ready == 0 {
				continue // a timeout: a pending adoption or the settle
			}
			return // POLLHUP: every process under the filter has exited
		}
		if err := seccomp.Recv(listener, &n); err != nil {
			if err == unix.ENOENT {
				continue // the caller died or was interrupted
			}
			ic.log.Error("seccomp listener: receive", "gen", gen, "err", err)
			return
		}
		if err := ic.answer(listener, g, &n); err != nil && err != unix.ENOENT {
			ic.log.Warn("seccomp listener: answer", "gen", gen, "pid", n.Pid, "err", err)
		}
		ic.tick(g, time.Now())
	}
}

// answer handles one notification; every path sends exactly one reply.
func (ic *Interceptor) answer(listener int, g *generationTaps, n *seccomp.Notif) error {
	var handled bool
	var err error
	switch uint32(n.Data.Nr) {
	case seccomp.SysBind:
		handled, err = ic.onBind(listener, g, n)
	case seccomp.SysListen:
		handled, err = ic.onListen(listener, g, n)
	case seccomp.SysGetsockopt:
		handled, err = ic.onAcceptConn(listener, g, n)
	case seccomp.SysUnlink:
		handled, err = ic.onUnlink(listener, g, n, unix.AT_FDCWD, n.Data.Args[0], 0)
	case seccomp.SysUnlinkat:
		handled, err = ic.onUnlink(listener, g, n, int(int32(n.Data.Args[0])), n.Data.Args[1], int(n.Data.Args[2]))
	}
	if err != nil {
		ic.log.Warn("intercepted call left to the kernel", "gen", g.gen, "pid", n.Pid, "syscall", n.Data.Nr, "err", err)
	}
	if handled {
		return seccomp.Succeed(listener, n.ID)
	}
	return seccomp.Continue(listener, n.ID)
}

// took records that generation g has taken held socket i at fd, and
// reports it (New's onListen) once it has taken its sockets (report).
func (ic *Interceptor) took(g *generationTaps, i, fd int) {
	g.taken[i] = fd
	g.lastTake = time.Now()
	ic.report(g, g.lastTake)
}

// report calls New's onListen once g has taken its sockets: every held
// socket that was open when it started, or, when adopting, at least one
// and none more for the settle time (its configuration may have dropped a
// port, or there was nothing held before it).
func (ic *Interceptor) report(g *generationTaps, now time.Time) {
	if g.reported || len(g.taken) == 0 {
		return
	}
	all := len(g.expect) > 0
	for i := range g.expect {
		if _, ok := g.taken[i]; !ok {
			all = false
			break
		}
	}
	if !all && (!ic.adopt || now.Sub(g.lastTake) < ic.settle) {
		return
	}
	g.reported = true
	idx := make([]int, 0, len(g.taken))
	for i := range g.taken {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var fds []string
	for _, i := range idx {
		fds = append(fds, strconv.Itoa(g.taken[i]))
	}
	ic.mu.Lock()
	ic.reported = max(ic.reported, g.gen)
	ic.mu.Unlock()
	ic.tookAll(Listen{PID: g.pid, FDs: strings.Join(fds, ",")})
	ic.closeUnused()
}

// wait is how long serve's poll may wait at now: until the next look at a
// pending UDP adoption, or the end of the settle, or for ever (-1).
func (ic *Interceptor) wait(g *generationTaps, now time.Time) int {
	d := time.Duration(-1)
	if ic.adopt && !g.reported && len(g.taken) > 0 {
		d = max(0, g.lastTake.Add(ic.settle).Sub(now))
	}
	if len(g.pending) > 0 && (d < 0 || d > udpCheckInterval) {
		d = udpCheckInterval
	}
	if d < 0 {
		return -1
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// tick does what waits for time rather than a call: the pending UDP
// adoptions and the settle.
func (ic *Interceptor) tick(g *generationTaps, now time.Time) {
	if len(g.pending) > 0 {
		ic.checkPending(g, now)
	}
	ic.report(g, now)
}
