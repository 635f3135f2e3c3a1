package socketact

import (
	"fmt"

	"zedr-run/internal/sdnotify"
)

// StoreFDs pushes the sockets into the service manager's file descriptor
// store, as sd_pid_notify_with_fds(3) does with "FDSTORE=1\nFDNAME=NAME": one
// message per socket, the fd attached as SCM_RIGHTS, named by its FDName.
// systemd keeps them (the unit needs FileDescriptorStoreMax=) across a
// restart or crash of zedr-run and hands them back in LISTEN_FDS with those
// names, where OpenAll adopts them. Storing the same socket again is
// harmless: systemd keeps one copy of each.
func StoreFDs(notifySocket string, socks []*Socket) error {
	snd := sdnotify.NewSender(notifySocket) // "@name" is abstract
	defer snd.Close()
	for _, s := range socks {
		if err := snd.SendWithFDs([]int{int(s.File.Fd())}, "FDSTORE=1", "FDNAME="+s.Spec.FDName()); err != nil {
			return fmt.Errorf("fd store: push %s to %s: %w", s.Spec, notifySocket, err)
		}
	}
	return nil
}
