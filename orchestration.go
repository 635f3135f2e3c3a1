//go:build linux

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"zedr-run/wrapper"
)

// orchestrationFlags are the options that let an orchestrator (Docker,
// Kubernetes, systemd) see and steer zedr-run: the start limit.
var orchestrationFlags = []cli.Flag{
	&cli.StringFlag{Name: "start-limit", EnvVars: []string{"ZEDR_START_LIMIT"},
		Value: wrapper.FormatStartLimit(wrapper.DefaultStartLimitBurst, wrapper.DefaultStartLimitInterval),
		Usage: "after N crash restarts within DURATION (`N/DURATION`), or when no generation became ready within DURATION of the start, stop and exit with the last child's status (as systemd's StartLimitBurst=/StartLimitIntervalSec=; rolled-back restarts never count); 0: restart forever"},
}

// configureOrchestration reads --start-limit.
func configureOrchestration(c *cli.Context, cfg *wrapper.Config) error {
	v := c.String("start-limit")
	burst, interval, err := wrapper.ParseStartLimit(v)
	if err != nil {
		return usageError{fmt.Errorf("bad --start-limit %q: %w", v, err)}
	}
	cfg.StartLimitBurst, cfg.StartLimitInterval = burst, interval
	return nil
}
