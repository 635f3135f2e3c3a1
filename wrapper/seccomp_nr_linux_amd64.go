package wrapper

import "golang.org/x/sys/unix"

const sysUnlink = unix.SYS_UNLINK
