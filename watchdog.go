//go:build linux

package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"zedr-run/wrapper"
)

// watchdogFlags are the children's watchdog, systemd's WatchdogSec= and
// WatchdogSignal= for each child, with a replacement before the kill.
var watchdogFlags = []cli.Flag{
	&cli.DurationFlag{Name: "watchdog", EnvVars: []string{"ZEDR_WATCHDOG"},
		Usage: "give each child WATCHDOG_USEC and WATCHDOG_PID (sd_watchdog_enabled(3)); a serving child that sends no WATCHDOG=1 on NOTIFY_SOCKET within `DURATION`, or sends WATCHDOG=trigger, is hung: a new one is started in its place and, once ready, the hung one gets --watchdog-signal (0: no watchdog)"},
	&cli.StringFlag{Name: "watchdog-signal", EnvVars: []string{"ZEDR_WATCHDOG_SIGNAL"}, Value: "ABRT",
		Usage: "the `SIGNAL` a hung child gets once its replacement is ready (ABRT, as systemd's WatchdogSignal=, for a core dump); it is killed after --stop-timeout"},
}

// configureWatchdog reads --watchdog and --watchdog-signal, and zedr-run's
// own watchdog from its service manager (WATCHDOG_USEC, WATCHDOG_PID).
func configureWatchdog(c *cli.Context, cfg *wrapper.Config, getenv func(string) string, pid int) error {
	if cfg.Watchdog = c.Duration("watchdog"); cfg.Watchdog < 0 {
		return usagef("bad --watchdog %v: must not be negative (0: no watchdog)", cfg.Watchdog)
	}
	if cfg.Watchdog > 0 && cfg.Watchdog < time.Microsecond {
		return usagef("bad --watchdog %v: WATCHDOG_USEC counts microseconds; want 1µs or more", cfg.Watchdog)
	}
	sig, err := parseSignal("--watchdog-signal", c.String("watchdog-signal"))
	if err != nil {
		return err
	}
	cfg.WatchdogSignal = sig
	cfg.OuterWatchdog = outerWatchdog(getenv, pid)
	return nil
}

// outerWatchdog is the watchdog interval zedr-run's own service manager
// asks for, as sd_watchdog_enabled(3) reads it: WATCHDOG_USEC, when
// WATCHDOG_PID is unset or zedr-run's pid; 0 for none.
func outerWatchdog(getenv func(string) string, pid int) time.Duration {
	usec, err := strconv.ParseUint(getenv("WATCHDOG_USEC"), 10, 63)
	if err != nil || usec == 0 || usec > uint64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != fmt.Sprint(pid) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}
