package seccomp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MinKernel is the oldest Linux that has everything transparent mode
// uses: user notifications (5.0), pidfd_getfd (5.6) and
// SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SETFD (5.9).
var MinKernel = [2]int{5, 9}

// ErrUnsupported is wrapped by Check's error when this system cannot
// intercept calls at all.
var ErrUnsupported = errors.New("seccomp user notification is not available")

// Check says why calls cannot be intercepted here, or nil: the
// architecture, the kernel version, seccomp compiled out.
func Check() error {
	if AuditArch == 0 {
		return fmt.Errorf("%w: implemented for linux/amd64 and linux/arm64 only", ErrUnsupported)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	if v := kernelVersion(release); v[0] < MinKernel[0] || v[0] == MinKernel[0] && v[1] < MinKernel[1] {
		return fmt.Errorf("%w: needs Linux %d.%d or later (SECCOMP_ADDFD_FLAG_SETFD); this kernel is %s",
			ErrUnsupported, MinKernel[0], MinKernel[1], release)
	}
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("%w: this kernel lacks seccomp (prctl PR_GET_SECCOMP: %v)", ErrUnsupported, err)
	}
	return nil
}

// kernelVersion parses "6.18.0-1-amd64" into {6, 18}; {0, 0} if it cannot.
func kernelVersion(release string) [2]int {
	var v [2]int
	parts := strings.SplitN(release, ".", 3)
	for i, part := range parts[:min(2, len(parts))] {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		v[i], _ = strconv.Atoi(part[:end])
	}
	return v
}

// Install sets no_new_privs and installs a filter that turns the native
// system calls nrs into user notifications (NoSyscall entries are
// skipped). It acts on the calling thread, which must be locked and must
// be the one that calls execve. It returns the listener fd (close-on-exec).
func Install(nrs ...uint32) (int, error) {
	if err := Check(); err != nil {
		return -1, err
	}
	// Without CAP_SYS_ADMIN a filter needs no_new_privs; it also means the
	// command cannot gain privileges by exec (setuid binaries run as is).
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
	}
	var calls []uint32
	for _, nr := range nrs {
		if nr != NoSyscall {
			calls = append(calls, nr)
		}
	}
	prog := filterProgram(AuditArch, calls)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	if errno == unix.EINVAL {
		// WAIT_KILLABLE_RECV is 5.19: without it a signal that interrupts
		// a waiting call restarts it, which the listener must handle.
		flags &^= unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
		fd, _, errno = unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	}
	if errno != 0 {
		return -1, fmt.Errorf("install the seccomp filter (seccomp SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return int(fd), nil
}

// Offsets in struct seccomp_data.
const (
	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArgs = 16 // u64 args[6]; the low 32 bits first on little-endian amd64 and arm64
)

// argEq is a condition on a call's argument: its low 32 bits equal value
// (the int arguments the kernel reads as 32 bits).
type argEq struct {
	arg   int
	value uint32
}

// narrowed lists the calls notified only when their arguments match:
// getsockopt() only for (SOL_SOCKET, SO_ACCEPTCONN), the one option
// transparent mode answers, so that every other getsockopt (Go asks
// SO_ERROR for each connect) runs without leaving the kernel.
var narrowed = map[uint32][]argEq{
	SysGetsockopt: {{1, unix.SOL_SOCKET}, {2, unix.SO_ACCEPTCONN}},
}

// filterProgram returns a classic BPF program: on the native architecture,
// the syscalls nrs go to the user-space listener (those in narrowed only
// when their arguments match); everything else, and every call of another
// ABI (32-bit, x32), is allowed.
func filterProgram(arch uint32, nrs []uint32) []unix.SockFilter {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	// Jumps are relative and forward: lay the program out with absolute
	// targets, then resolve them.
	type insn struct {
		code   uint16
		k      uint32
		jt, jf int // absolute targets of a jeq
	}
	const allow, notif = -1, -2 // the two returns at the end
	var p []insn
	p = append(p, insn{code: ld, k: seccompDataArch}, insn{code: jeq, k: arch, jt: 2, jf: allow}, insn{code: ld, k: seccompDataNr})
	type block struct {
		at   int // index of the jeq on the call's number
		cond []argEq
	}
	var blocks []block
	for _, nr := range nrs {
		blocks = append(blocks, block{len(p), narrowed[nr]})
		p = append(p, insn{code: jeq, k: nr, jt: notif, jf: len(p) + 1})
	}
	p = append(p, insn{code: ret, k: unix.SECCOMP_RET_ALLOW})
	for _, b := range blocks {
		if len(b.cond) == 0 {
			continue
		}
		p[b.at].jt = len(p)
		for _, c := range b.cond {
			p = append(p, insn{code: ld, k: uint32(seccompDataArgs + 8*c.arg)})
			p = append(p, insn{code: jeq, k: c.value, jt: len(p) + 1, jf: allow})
		}
		p = append(p, insn{code: ret, k: unix.SECCOMP_RET_USER_NOTIF})
	}
	end := len(p)
	p = append(p, insn{code: ret, k: unix.SECCOMP_RET_ALLOW}, insn{code: ret, k: unix.SECCOMP_RET_USER_NOTIF})
	target := func(t int) int {
		switch t {
		case allow:
			return end
		case notif:
			return end + 1
		}
		return t
	}
	prog := make([]unix.SockFilter, len(p))
	for i, in := range p {
		prog[i] = unix.SockFilter{Code: in.code, K: in.k}
		if in.code == jeq {
			prog[i].Jt = uint8(target(in.jt) - i - 1)
			prog[i].Jf = uint8(target(in.jf) - i - 1)
		}
	}
	return prog
}
