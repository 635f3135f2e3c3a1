//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"zedr-run/wrapper"
)

// configureWorkers reads --workers, --rollout, --surge, --user and --group.
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
	if err := configureSurge(c, cfg); err != nil {
		return err
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

// configureSurge reads --surge: how many new workers a rolling restart
// starts at once. A surge above --workers is refused rather than clamped:
// it cannot take effect, so it most likely belongs to another --workers
// (say, one from an environment that changed), and the user should say
// which they mean (--surge N, or --rollout all, starts every worker at once).
func configureSurge(c *cli.Context, cfg *wrapper.Config) error {
	cfg.Surge = c.Int("surge")
	if cfg.Surge < 1 {
		return usagef("bad --surge %d: must be 1 or more", cfg.Surge)
	}
	if cfg.Surge > cfg.Workers {
		return usagef("bad --surge %d: more than --workers %d (--surge %d, or --rollout all, starts every new worker at once)", cfg.Surge, cfg.Workers, cfg.Workers)
	}
	if cfg.Rollout == wrapper.RolloutAll && c.IsSet("surge") && cfg.Surge != cfg.Workers {
		return usagef("--surge %d contradicts --rollout all, which starts all %d new workers at once (--surge is for --rollout rolling)", cfg.Surge, cfg.Workers)
	}
	if cfg.Surge == cfg.Workers && cfg.Workers > 1 {
		cfg.Rollout = wrapper.RolloutAll // with one worker the two are the same
	}
	return nil
}
