package reexec

import "golang.org/x/sys/unix"

// The native ABI that the filter intercepts; 32-bit (compat) calls are let
// through. arm64 has no unlink(), only unlinkat().
const (
	auditArch   = unix.AUDIT_ARCH_AARCH64
	sysBind     = unix.SYS_BIND
	sysListen   = unix.SYS_LISTEN
	sysUnlink   = 0
	sysUnlinkat = unix.SYS_UNLINKAT
)
