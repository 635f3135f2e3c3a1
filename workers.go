//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"zedr-run/wrapper"
)

// configureWorkers reads --workers, --rollout, --user and --group.
func configureWorkers(c *cli.Context, cfg *wrapper.Config) error {
	cfg.Workers = c.Int("workers")
	if cfg.Workers < 1 {
		return usagef("bad --workers %d: must be 1 or more", cfg.Workers)
	}
	if cfg.Workers > wrapper.MaxWorkers {
		return usagef("bad --workers %d: at most %d workers per generation (each is a process, and a --rollout all restart runs twice as many)", cfg.Workers, wrapper.MaxWorkers)
	}
	switch cfg.Rollout = c.String("rollout"); cfg.Rollout {
	case wrapper.RolloutRolling, wrapper.RolloutAll:
	default:
		return usagef("bad --rollout %q: want rolling or all", cfg.Rollout)
	}
	spec, group := c.String("user"), c.String("group")
	if spec == "" {
		if group != "" {
			return usagef("--group %q needs --user: the group is that of the user the children run as", group)
		}
		return nil
	}
	cred, env, err := wrapper.LookupUser(spec, group)
	if err != nil {
		return usageError{fmt.Errorf("bad --user %q: %w", spec, err)}
	}
	if os.Geteuid() != 0 {
		return usageError{errors.New("--user needs zedr-run to run as root: only root can start the children as another user (drop --user, or start zedr-run as root)")}
	}
	cfg.Credential, cfg.UserEnv = cred, env
	return nil
}
