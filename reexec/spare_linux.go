package reexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// A spare shim is a shim started ahead of time, before zedr-run knows what
// it will run: it waits on its status channel for an Order, then does what
// a shim started with the command does (intercept, exec, report), so that a
// restart does not wait for zedr-run's own start-up as a shim (the Go
// runtime and package inits of the whole binary, a few milliseconds).
//
// The channel carries, from zedr-run: one message with the Order (JSON),
// then Order.Files descriptors in messages of at most MaxFDsPerMessage
// (SCM_RIGHTS), each with a one-byte payload. The spare places them at fds
// 3 to 3+Files-1, in order, puts its end of the channel above them, and
// from there on reports on the channel exactly as a shim: why the exec
// failed, or nothing (close-on-exec) once it succeeded. EOF before an order
// ends the spare with status 0: nothing outlives zedr-run or its decision
// to close the channel.

// spareFlag is the argument (before the status fd) of a shim that waits for
// its order.
const spareFlag = "--spare"

// MaxFDsPerMessage is how many descriptors one message carries: the
// kernel's limit (SCM_MAX_FD) is 253.
const MaxFDsPerMessage = 253

// maxOrder bounds the order message, which holds the whole environment.
const maxOrder = 1 << 20

// Order is what a spare shim runs, and as whom.
type Order struct {
	Path      string    `json:"path"`
	Argv      []string  `json:"argv"`
	Env       []string  `json:"env"`
	Intercept Intercept `json:"intercept"`
	// Credential, if not nil, is the user and groups to become before the
	// exec, as syscall.SysProcAttr.Credential does for a forked shim.
	Credential *syscall.Credential `json:"credential,omitempty"`
	Files      int                 `json:"files"` // descriptors that follow the order, for fds 3 and up
}

// SpareArgs returns the argv of a spare shim that waits on statusFD and
// will place up to files descriptors.
func SpareArgs(statusFD, files int) []string {
	return []string{ShimName, spareFlag, strconv.Itoa(statusFD), strconv.Itoa(files)}
}

// EncodeOrder is the order's message.
func EncodeOrder(o Order) ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	if len(b) > maxOrder {
		return nil, fmt.Errorf("order of %d bytes is over the limit of %d", len(b), maxOrder)
	}
	return b, nil
}

// DecodeOrder parses an order's message.
func DecodeOrder(b []byte) (Order, error) {
	var o Order
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("bad order: %w", err)
	}
	if o.Path == "" || len(o.Argv) == 0 || o.Files < 0 {
		return o, errors.New("bad order: no command")
	}
	return o, nil
}

// SendOrder hands the order and the files (the sockets, in order) to the
// spare with send, which sends one message on the caller's end of the
// status channel (Sendmsg, waiting as the caller chooses).
func SendOrder(send func(p, oob []byte) error, o Order, files []int) error {
	o.Files = len(files)
	b, err := EncodeOrder(o)
	if err != nil {
		return err
	}
	if err := send(b, nil); err != nil {
		return fmt.Errorf("send the order: %w", err)
	}
	for len(files) > 0 {
		n := min(len(files), MaxFDsPerMessage)
		if err := send([]byte{0}, unix.UnixRights(files[:n]...)); err != nil {
			return fmt.Errorf("send %d descriptors: %w", n, err)
		}
		files = files[n:]
	}
	return nil
}

// spare waits for its order on statusFD and runs it.
func spare(statusFD, files int) int {
	growFDTable(files)
	o, fds, err := receiveOrder(statusFD)
	if err != nil {
		if errors.Is(err, errNoOrder) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", ShimName, err)
		return 2
	}
	statusFD, err = placeFDs(3, fds, statusFD)
	if err == nil && o.Credential != nil {
		err = become(o.Credential)
	}
	if err == nil && o.Intercept.Bind {
		err = intercept(statusFD, o.Intercept)
	}
	if err == nil {
		err = execveEnv(statusFD, o.Path, o.Argv, o.Env)
	}
	report(statusFD, err)
	if errors.Is(err, unix.ENOENT) {
		return ExitNotFound
	}
	return ExitNotExecutable
}

var errNoOrder = errors.New("status channel closed before an order")

// receiveOrder reads the order and its descriptors (close-on-exec).
func receiveOrder(statusFD int) (Order, []int, error) {
	buf := make([]byte, maxOrder)
	n, err := recvRetry(statusFD, buf, nil)
	if err != nil {
		return Order{}, nil, fmt.Errorf("receive the order: %w", err)
	}
	if n == 0 {
		return Order{}, nil, errNoOrder
	}
	o, err := DecodeOrder(buf[:n])
	if err != nil {
		return o, nil, err
	}
	fds := make([]int, 0, o.Files)
	oob := make([]byte, unix.CmsgSpace(MaxFDsPerMessage*4))
	for len(fds) < o.Files {
		_, oobn, err := recvmsgRetry(statusFD, buf[:1], oob)
		if err != nil {
			return o, nil, fmt.Errorf("receive descriptors: %w", err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return o, nil, fmt.Errorf("receive descriptors: %w", err)
		}
		got := 0
		for _, m := range msgs {
			rights, err := unix.ParseUnixRights(&m)
			if err != nil {
				return o, nil, fmt.Errorf("receive descriptors: %w", err)
			}
			fds = append(fds, rights...)
			got += len(rights)
		}
		if got == 0 {
			return o, nil, fmt.Errorf("received %d of %d descriptors, then a message without any", len(fds), o.Files)
		}
	}
	if len(fds) != o.Files {
		return o, nil, fmt.Errorf("received %d descriptors, the order says %d", len(fds), o.Files)
	}
	return o, fds, nil
}

func recvRetry(fd int, buf, oob []byte) (int, error) {
	n, _, err := recvmsgRetry(fd, buf, oob)
	return n, err
}

func recvmsgRetry(fd int, buf, oob []byte) (n, oobn int, err error) {
	for {
		n, oobn, _, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			return n, oobn, err
		}
	}
}

// placeFDs moves fds to base, base+1, ... in order (without close-on-exec)
// and status just above them (close-on-exec), whatever numbers they have
// now, even inside that range: everything is first moved above it. It
// returns the status fd's new number. Descriptors that were at the targets
// before are closed, as dup2 does in a fork and exec.
//
// It makes raw system calls: none of them blocks, and on the locked thread
// of a shim each ordinary one may hand the thread's P back and forth
// between threads (measured: 10-20 ms for a hundred sockets, against well
// under one with raw calls).
func placeFDs(base int, fds []int, status int) (int, error) {
	top := base + len(fds)
	// Only what sits in [base, top] is copied out of the way first; the
	// rest (the received fds, above the places the spare holds) moves once.
	tmp := make([]int, len(fds))
	for i, fd := range fds {
		tmp[i] = fd
		if fd >= base && fd <= top {
			nfd, err := rawDupAbove(fd, top+1)
			if err != nil {
				return status, fmt.Errorf("place descriptor %d: %w", i, err)
			}
			tmp[i] = nfd
		}
	}
	ns := status
	if status >= base && status <= top {
		var err error
		if ns, err = rawDupAbove(status, top+1); err != nil {
			return status, fmt.Errorf("move the status channel: %w", err)
		}
	}
	// The originals that were copied go; none of them is among the
	// copies, all above top.
	for i, fd := range fds {
		if tmp[i] != fd {
			rawClose(fd)
		}
	}
	if status != ns {
		rawClose(status)
	}
	for i, fd := range tmp {
		if err := rawDup3(fd, base+i, 0); err != nil {
			return ns, fmt.Errorf("place descriptor %d at %d: %w", i, base+i, err)
		}
		rawClose(fd)
	}
	if err := rawDup3(ns, top, unix.O_CLOEXEC); err != nil {
		return ns, fmt.Errorf("place the status channel at %d: %w", top, err)
	}
	rawClose(ns)
	return top, nil
}

// growFDTable makes the descriptor table big enough, while the spare
// waits, for placing files descriptors: the kernel grows it by doubling,
// and in a process with several threads (the Go runtime's) each growth
// waits for an RCU grace period, measured at 5-10 ms: twice that for a
// hundred sockets on the way to the exec. Tables never shrink. The
// placement needs room for the received descriptors, their copies and
// the runtime's own, above the places held for them.
func growFDTable(files int) {
	top := 3*files + 64
	if fd, err := rawDupAbove(0, top); err == nil {
		rawClose(fd)
	}
}

func rawDupAbove(fd, min int) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_DUPFD_CLOEXEC, uintptr(min))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func rawDup3(from, to, flags int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_DUP3, uintptr(from), uintptr(to), uintptr(flags)); e != 0 {
		return e
	}
	return nil
}

func rawClose(fd int) { unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

// become drops to the order's user and groups, on every thread (Go's
// syscall.Setres*id apply to all of them), and restores the parent-death
// signal, which a change of credentials clears.
func become(c *syscall.Credential) error {
	ppid := os.Getppid()
	if !c.NoSetGroups {
		groups := make([]int, len(c.Groups))
		for i, g := range c.Groups {
			groups[i] = int(g)
		}
		if err := syscall.Setgroups(groups); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if err := syscall.Setresgid(int(c.Gid), int(c.Gid), int(c.Gid)); err != nil {
		return fmt.Errorf("setresgid %d: %w", c.Gid, err)
	}
	if err := syscall.Setresuid(int(c.Uid), int(c.Uid), int(c.Uid)); err != nil {
		return fmt.Errorf("setresuid %d: %w", c.Uid, err)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	if os.Getppid() != ppid {
		return errors.New("zedr-run is gone")
	}
	return nil
}
