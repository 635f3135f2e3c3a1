package reexec

import "golang.org/x/sys/unix"

// The native ABI that the filter intercepts; 32-bit (int 0x80) and x32
// calls are let through, so they bypass transparent mode.
const (
	auditArch   = unix.AUDIT_ARCH_X86_64
	sysBind     = unix.SYS_BIND
	sysListen   = unix.SYS_LISTEN
	sysUnlink   = unix.SYS_UNLINK
	sysUnlinkat = unix.SYS_UNLINKAT
)
