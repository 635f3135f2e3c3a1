package reexec

import (
	"bytes"
	"fmt"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
)

// installFilter installs the transparent mode's filter for what ic asks on
// the calling thread, which must be locked and must be the one that calls
// execve. It returns the notification fd (close-on-exec).
func installFilter(ic Intercept) (int, error) {
	nrs := []uint32{seccomp.SysBind, seccomp.SysListen, seccomp.SysGetsockopt}
	if ic.Unlink {
		nrs = append(nrs, seccomp.SysUnlinkat, seccomp.SysUnlink)
	}
	return seccomp.Install(nrs...)
}

// sendListener hands the notification fd to zedr-run over the status channel.
func sendListener(statusFD, fd int) error {
	err := unix.Sendmsg(statusFD, []byte(ListenerMessage), unix.UnixRights(fd), nil, 0)
	if err != nil {
		return fmt.Errorf("send the seccomp listener to zedr-run: %w", err)
	}
	return nil
}

// IsListenerMessage reports whether a status channel payload is the one that
// carries the notification fd.
func IsListenerMessage(b []byte) bool { return bytes.Equal(b, []byte(ListenerMessage)) }
