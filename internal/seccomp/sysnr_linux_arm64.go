package seccomp

import "golang.org/x/sys/unix"

// The native ABI that the filter intercepts; 32-bit (compat) calls are let
// through. arm64 has no unlink(), only unlinkat().
const (
	AuditArch     = unix.AUDIT_ARCH_AARCH64
	SysBind       = unix.SYS_BIND
	SysListen     = unix.SYS_LISTEN
	SysUnlink     = NoSyscall
	SysUnlinkat   = unix.SYS_UNLINKAT
	SysGetsockopt = unix.SYS_GETSOCKOPT
)
