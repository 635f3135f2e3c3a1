package seccomp

import "golang.org/x/sys/unix"

// The native ABI that the filter intercepts; 32-bit (int 0x80) and x32
// calls are let through.
const (
	AuditArch     = unix.AUDIT_ARCH_X86_64
	SysBind       = unix.SYS_BIND
	SysListen     = unix.SYS_LISTEN
	SysUnlink     = unix.SYS_UNLINK
	SysUnlinkat   = unix.SYS_UNLINKAT
	SysGetsockopt = unix.SYS_GETSOCKOPT
)
