//go:build tableflip

package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"time"

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
				upgrade(upg)
			}
		}()
		return upg, nil
	}
}

// upgrade starts the successor once the predecessor has exited: tableflip
// refuses to upgrade until its Upgrader has seen the predecessor's exit
// (WaitForParent waits for that, and the Upgrader's loop may take the
// refusal branch a moment longer), so a refusal is tried again a few times.
func upgrade(upg *tableflip.Upgrader) {
	ctx, cancel := context.WithTimeout(context.Background(), parentWait)
	defer cancel()
	if err := upg.WaitForParent(ctx); err != nil {
		logf("upgrade: waiting for the predecessor: %v", err)
		return
	}
	for try := 1; ; try++ {
		err := upg.Upgrade()
		if err == nil {
			return
		}
		logf("upgrade, try %d: %v", try, err)
		if try == upgradeTries {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	parentWait   = 30 * time.Second // how long a SIGHUP waits for the predecessor to be gone
	upgradeTries = 5                // Upgrade calls per SIGHUP
)
