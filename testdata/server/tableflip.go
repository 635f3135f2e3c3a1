//go:build tableflip

package main

import (
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/cloudflare/tableflip"
)

// The benchmark's tableflip contender (scripts/bench): the same server,
// but the process upgrades itself. On SIGHUP the Upgrader starts this
// binary again with the same arguments; the new process inherits the -listen
// sockets (Fds.Listen returns them instead of binding anew), serves after
// its start-up, calls Ready (which writes the PID file), and then the old
// process's Exit channel closes and it drains and exits like on SIGTERM.
// Send the next SIGHUP to the pid in the PID file: tableflip upgrades only
// after the predecessor has exited.
var tableflipPID = flag.String("tableflip", "", "hand the -listen sockets over with cloudflare/tableflip: SIGHUP upgrades; the serving pid is written to `PIDFILE`")

func init() {
	newHandoff = func() (handoff, error) {
		if *tableflipPID == "" {
			return nil, nil
		}
		upg, err := tableflip.New(tableflip.Options{PIDFile: *tableflipPID})
		if err != nil {
			return nil, err
		}
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		go func() {
			for range hup {
				if err := upg.Upgrade(); err != nil {
					logf("upgrade: %v", err)
				}
			}
		}()
		return upg, nil
	}
}
