//go:build linux && !amd64 && !arm64

package reexec

// Transparent mode is not implemented on this architecture: CheckIntercept
// refuses it.
const (
	auditArch   = 0
	sysBind     = 0
	sysListen   = 0
	sysUnlink   = 0
	sysUnlinkat = 0
)
