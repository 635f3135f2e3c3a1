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
)

// filterProgram returns a classic BPF program: on the native architecture,
// the syscalls nrs go to the user-space listener; everything else, and every
// call of another ABI (32-bit, x32), is allowed.
func filterProgram(arch uint32, nrs []uint32) []unix.SockFilter {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	n := len(nrs)
	prog := []unix.SockFilter{
		{Code: ld, K: seccompDataArch},
		{Code: jeq, K: arch, Jt: 0, Jf: uint8(n + 1)}, // to ALLOW
		{Code: ld, K: seccompDataNr},
	}
	for i, nr := range nrs {
		prog = append(prog, unix.SockFilter{Code: jeq, K: nr, Jt: uint8(n - i), Jf: 0}) // to USER_NOTIF
	}
	return append(prog,
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_USER_NOTIF},
	)
}
