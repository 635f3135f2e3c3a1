package wrapper

import "golang.org/x/sys/unix"

// System call numbers the seccomp listener receives (native ABI).
const (
	sysBind     = unix.SYS_BIND
	sysListen   = unix.SYS_LISTEN
	sysUnlinkat = unix.SYS_UNLINKAT
)
