package main

import (
	"flag"
	"os"
	"strconv"
	"time"

	"zedr-run/socketact"
)

var watchdogStopAfter = flag.Duration("watchdog-stop-after", 0, "with WATCHDOG_USEC: hang `D` after READY=1: stop sending WATCHDOG=1 and accepting (the requests in hand are answered); 0: never")

// pingWatchdog sends WATCHDOG=1 every half of WATCHDOG_USEC, as
// sd_watchdog_enabled(3) advises, when the watchdog is this process's
// (WATCHDOG_PID). With -watchdog-stop-after it hangs after that long, as a
// server whose accept loop is stuck: no more pings, and hang closes its
// copies of the listening sockets, so that the clients queue for the next
// generation.
func pingWatchdog(hang func()) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != strconv.Itoa(os.Getpid()) {
		logf("WATCHDOG_PID=%s is not mine: no watchdog", pid)
		return
	}
	interval := time.Duration(usec) * time.Microsecond / 2
	logf("watchdog: pinging every %v", interval)
	var stop <-chan time.Time
	if *watchdogStopAfter > 0 {
		stop = time.After(*watchdogStopAfter)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			logf("watchdog: hanging: no more pings nor accepts")
			hang()
			return
		case <-tick.C:
			socketact.Notify("WATCHDOG=1")
		}
	}
}
