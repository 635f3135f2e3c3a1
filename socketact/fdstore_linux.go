package socketact

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// StoreFDs pushes the sockets into the service manager's file descriptor
// store, as sd_pid_notify_with_fds(3) does with "FDSTORE=1\nFDNAME=NAME": one
// message per socket, the fd attached as SCM_RIGHTS, named by its FDName.
// systemd keeps them (the unit needs FileDescriptorStoreMax=) across a
// restart or crash of zedr-run and hands them back in LISTEN_FDS with those
// names, where OpenAll adopts them. Storing the same socket again is
// harmless: systemd keeps one copy of each.
func StoreFDs(notifySocket string, socks []*Socket) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fd store: %w", err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrUnix{Name: notifySocket} // "@name" is abstract
	for _, s := range socks {
		msg := []byte("FDSTORE=1\nFDNAME=" + s.Spec.FDName())
		rights := unix.UnixRights(int(s.File.Fd()))
		if err := unix.Sendmsg(fd, msg, rights, to, 0); err != nil {
			return fmt.Errorf("fd store: push %s to %s: %w", s.Spec, notifySocket, err)
		}
	}
	return nil
}
