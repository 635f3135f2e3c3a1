package reexec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A spare shim is a shim started ahead of time, before zedr-run knows
// when it will run the command: zedr-run forks it exactly as it forks a
// shim (the same descriptors in the same places: 0-2, the sockets and
// stored fds from 3 up, its status channel last; the command's user,
// directory, process group and parent-death signal), but with argv
// SpareArgs and no environment. It waits on its status channel for one
// Order (the command, its environment, the interception), then does what
// a shim does: intercept, exec, report. A restart then does not wait for
// zedr-run's own start-up as a shim (the Go runtime and the package inits
// of the whole binary, several milliseconds), and receiving the order
// costs the same whatever the number of sockets, which are in place
// already. EOF before an order ends the spare with status 0: nothing
// outlives zedr-run or its decision to close the channel.

// spareFlag is the argument (before the status fd) of a shim that waits for
// its order.
const spareFlag = "--spare"

// MaxOrder bounds the order, one datagram on the status channel (whose
// socket buffer holds about 200 KiB): an environment larger than that is
// started by forking a shim instead.
const MaxOrder = 128 << 10

// orderMagic begins every order: a spare of another version of zedr-run
// (none outlives its zedr-run, but a change of the format is deliberate)
// refuses what it cannot read.
const orderMagic = "zedr-run-order/1"

// Order is what a spare shim runs.
type Order struct {
	Path      string
	Argv      []string
	Env       []string
	Intercept Intercept
}

// SpareArgs returns the argv of a spare shim that waits on statusFD.
func SpareArgs(statusFD int) []string {
	return []string{ShimName, spareFlag, strconv.Itoa(statusFD)}
}

// EncodeOrder is the order's datagram: NUL-terminated strings (neither
// argv nor the environment can hold a NUL): the magic, the interception
// (its shim argument), the path, the number of arguments, the arguments,
// then the environment to the end.
func EncodeOrder(o Order) ([]byte, error) {
	if o.Path == "" || len(o.Argv) == 0 {
		return nil, errors.New("order without a command")
	}
	fields := append([]string{orderMagic, o.Intercept.arg(), o.Path, strconv.Itoa(len(o.Argv))}, o.Argv...)
	fields = append(fields, o.Env...)
	var b strings.Builder
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return nil, fmt.Errorf("order field %q holds a NUL byte", f)
		}
		b.WriteString(f)
		b.WriteByte(0)
	}
	if b.Len() > MaxOrder {
		return nil, fmt.Errorf("order of %d bytes is over the limit of %d", b.Len(), MaxOrder)
	}
	return []byte(b.String()), nil
}

// DecodeOrder parses an order's datagram.
func DecodeOrder(b []byte) (Order, error) {
	var o Order
	if len(b) == 0 || b[len(b)-1] != 0 {
		return o, errors.New("bad order: not NUL-terminated")
	}
	f := strings.Split(string(b[:len(b)-1]), "\x00")
	if len(f) < 5 || f[0] != orderMagic {
		return o, errors.New("bad order: not a zedr-run order of this version")
	}
	ic, err := parseIntercept(f[1])
	if err != nil {
		return o, fmt.Errorf("bad order: %w", err)
	}
	argc, err := strconv.Atoi(f[3])
	if err != nil || argc < 1 || argc > len(f)-4 {
		return o, fmt.Errorf("bad order: %q arguments", f[3])
	}
	if f[2] == "" {
		return o, errors.New("bad order: no command")
	}
	o.Intercept, o.Path = ic, f[2]
	o.Argv = f[4 : 4+argc]
	o.Env = f[4+argc:]
	return o, nil
}

// spare waits for its order on statusFD and runs it, as run does.
func spare(statusFD int) int {
	o, err := awaitOrder(statusFD)
	if errors.Is(err, errNoOrder) {
		return 0
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

// awaitOrder reads the order: one datagram, which blocks until zedr-run
// sends it (the spare's end of the channel is blocking).
func awaitOrder(statusFD int) (Order, error) {
	buf := make([]byte, MaxOrder+1)
	for {
		n, err := unix.Read(statusFD, buf)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return Order{}, fmt.Errorf("receive the order: %w", err)
		case n == 0:
			return Order{}, errNoOrder
		case n > MaxOrder:
			return Order{}, fmt.Errorf("order over %d bytes", MaxOrder)
		}
		return DecodeOrder(buf[:n])
	}
}
