//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"zedr-run/wrapper"
)

// orchestrationFlags are the options that let an orchestrator (Docker,
// Kubernetes, systemd) see and steer zedr-run: the start limit, the stop
// delay and signal mapping.
var orchestrationFlags = []cli.Flag{
	&cli.StringFlag{Name: "start-limit", EnvVars: []string{"ZEDR_START_LIMIT"},
		Value: wrapper.FormatStartLimit(wrapper.DefaultStartLimitBurst, wrapper.DefaultStartLimitInterval),
		Usage: "after N crash restarts within DURATION (`N/DURATION`), or when no generation became ready within DURATION of the start, stop and exit with the last child's status (as systemd's StartLimitBurst=/StartLimitIntervalSec=; rolled-back restarts never count); 0: restart forever"},
	&cli.DurationFlag{Name: "stop-delay", EnvVars: []string{"ZEDR_STOP_DELAY"}, Value: wrapper.DefaultStopDelay,
		Usage: "on SIGTERM or SIGINT, say stopping at once (zedr-run status exits 3) but keep serving this long before the graceful stop, while an orchestrator takes zedr-run out of its endpoints (instead of a preStop sleep); a second SIGTERM skips it"},
	&cli.StringSliceFlag{Name: "map-signal", EnvVars: []string{"ZEDR_MAP_SIGNAL"},
		Usage: "what signal FROM does instead of being forwarded as it is (`FROM:TO`, repeatable): TO is another signal sent to the child (HUP:QUIT), restart (a zero-downtime restart, HUP:restart) or ignore (HUP:ignore); TERM, INT and the restart signals cannot be mapped"},
}

// configureOrchestration reads --start-limit, --stop-delay and --map-signal
// (after --restart-signal).
func configureOrchestration(c *cli.Context, cfg *wrapper.Config) error {
	v := c.String("start-limit")
	burst, interval, err := wrapper.ParseStartLimit(v)
	if err != nil {
		return usageError{fmt.Errorf("bad --start-limit %q: %w", v, err)}
	}
	cfg.StartLimitBurst, cfg.StartLimitInterval = burst, interval
	if cfg.StopDelay = c.Duration("stop-delay"); cfg.StopDelay < 0 {
		return usagef("bad --stop-delay %v: must not be negative", cfg.StopDelay)
	}
	cfg.SignalMap, err = parseSignalMap(c.StringSlice("map-signal"), cfg.RestartSignals)
	return err
}

// unmappable are the signals --map-signal refuses as FROM, and why.
var unmappable = map[syscall.Signal]string{
	unix.SIGTERM: "it stops zedr-run",
	unix.SIGINT:  "it stops zedr-run",
	unix.SIGKILL: "it cannot be caught",
	unix.SIGSTOP: "it cannot be caught",
	unix.SIGCHLD: "zedr-run reaps its children with it",
	unix.SIGURG:  "the Go runtime uses it",
	unix.SIGPIPE: "zedr-run raises it on itself when its log reader goes away",
}

// parseSignalMap reads --map-signal FROM:TO values. The same FROM twice is
// refused unless it maps to the same TO.
func parseSignalMap(values []string, restart []os.Signal) (map[os.Signal]wrapper.SignalAction, error) {
	if len(values) == 0 {
		return nil, nil
	}
	m := map[os.Signal]wrapper.SignalAction{}
	for _, v := range values {
		bad := func(format string, args ...any) error {
			return usagef("bad --map-signal %q: %s", v, fmt.Sprintf(format, args...))
		}
		f, t, ok := strings.Cut(strings.TrimSpace(v), ":")
		if !ok || f == "" || t == "" {
			return nil, bad("want FROM:TO, e.g. HUP:restart, HUP:QUIT or HUP:ignore")
		}
		from, err := signalNamed(f)
		if err != nil {
			return nil, bad("FROM %q is not a signal name or number", f)
		}
		if why, no := unmappable[from]; no {
			return nil, bad("%s cannot be mapped: %s", unix.SignalName(from), why)
		}
		if isRestartSignal(from, restart) {
			return nil, bad("%s is a restart signal (USR2 or --restart-signal); map another one", unix.SignalName(from))
		}
		var to wrapper.SignalAction
		switch strings.ToLower(t) {
		case wrapper.MapRestart:
			to = wrapper.SignalAction{Kind: wrapper.MapRestart}
		case wrapper.MapIgnore:
			to = wrapper.SignalAction{Kind: wrapper.MapIgnore}
		default:
			sig, err := signalNamed(t)
			if err != nil {
				return nil, bad("TO %q is not a signal, restart or ignore", t)
			}
			to = wrapper.SignalAction{Kind: wrapper.MapSignal, Signal: sig}
		}
		if prev, dup := m[from]; dup && prev != to {
			return nil, bad("%s is already mapped to %s", unix.SignalName(from), prev)
		}
		m[from] = to
	}
	return m, nil
}

func isRestartSignal(sig syscall.Signal, restart []os.Signal) bool {
	for _, r := range restart {
		if r == sig {
			return true
		}
	}
	return false
}

// signalNamed is parseSignal without an option to name.
func signalNamed(v string) (syscall.Signal, error) { return parseSignal("", v) }

// mappedSignals are the FROM signals of the map, which zedr-run must catch.
func mappedSignals(m map[os.Signal]wrapper.SignalAction) []os.Signal {
	var sigs []os.Signal
	for sig := range m {
		sigs = append(sigs, sig)
	}
	return sigs
}
