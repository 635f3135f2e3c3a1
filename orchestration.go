//go:build linux

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"zedr-run/wrapper"
)

// orchestrationFlags are the options that let an orchestrator (Docker,
// Kubernetes, systemd) see and steer zedr-run: the start limit and the stop
// delay.
var orchestrationFlags = []cli.Flag{
	&cli.StringFlag{Name: "start-limit", EnvVars: []string{"ZEDR_START_LIMIT"},
		Value: wrapper.FormatStartLimit(wrapper.DefaultStartLimitBurst, wrapper.DefaultStartLimitInterval),
		Usage: "after N crash restarts within DURATION (`N/DURATION`), or when no generation became ready within DURATION of the start, stop and exit with the last child's status (as systemd's StartLimitBurst=/StartLimitIntervalSec=; rolled-back restarts never count); 0: restart forever"},
	&cli.DurationFlag{Name: "stop-delay", EnvVars: []string{"ZEDR_STOP_DELAY"}, Value: wrapper.DefaultStopDelay,
		Usage: "on SIGTERM or SIGINT, say stopping at once (zedr-run status exits 3) but keep serving this long before the graceful stop, while an orchestrator takes zedr-run out of its endpoints (instead of a preStop sleep); a second SIGTERM skips it"},
}

// configureOrchestration reads --start-limit and --stop-delay.
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
	return nil
}
