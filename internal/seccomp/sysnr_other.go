//go:build !linux || (!amd64 && !arm64)

package seccomp

// Transparent mode is not implemented on this architecture: Check refuses
// it, and no number below is used.
const (
	AuditArch     = 0
	SysBind       = NoSyscall
	SysListen     = NoSyscall
	SysUnlink     = NoSyscall
	SysUnlinkat   = NoSyscall
	SysGetsockopt = NoSyscall
)
