package intercept

import (
	"errors"
	"strconv"
	"strings"

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

// generationTaps is what one generation's goroutine knows: which declared
// sockets it has taken, for --ready listen.
type generationTaps struct {
	gen, pid int
	taken    map[int]int  // index in held -> the child's fd
	bound    map[int]bool // index in held -> bound under this listener (for the holders, behind Interceptor.mu)
	reported bool
}

// serve answers the notifications of generation gen (started as pid) on
// listener until no process of it is left, then closes listener.
func (ic *Interceptor) serve(listener, gen, pid int) {
	g := &generationTaps{gen: gen, pid: pid, taken: map[int]int{}, bound: map[int]bool{}}
	defer func() {
		unix.Close(listener)
		ic.released(g)
		if ic.closed != nil {
			ic.closed(gen)
		}
	}()
	fds := []unix.PollFd{{Fd: int32(listener), Events: unix.POLLIN}}
	var n seccomp.Notif
	for {
		fds[0].Revents = 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			ic.log.Error("seccomp listener: poll", "gen", gen, "err", err)
			return
		}
		if fds[0].Revents&unix.POLLIN == 0 {
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

// took records that generation g has taken held socket i at fd, and calls
// New's onListen once it has taken them all.
func (ic *Interceptor) took(g *generationTaps, i, fd int) {
	g.taken[i] = fd
	if g.reported || len(g.taken) < len(ic.held) {
		return
	}
	g.reported = true
	var fds []string
	for j := range ic.held {
		fds = append(fds, strconv.Itoa(g.taken[j]))
	}
	ic.tookAll(Listen{PID: g.pid, FDs: strings.Join(fds, ",")})
}
