//go:build linux

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"zedr-run/internal/seccomp"
	"zedr-run/socketact"
	"zedr-run/wrapper"
)

// configureIntercept checks --intercept-bind against the other options and
// the system: transparent mode is refused, never silently degraded.
func configureIntercept(c *cli.Context, cfg *wrapper.Config, specs []socketact.Spec) error {
	cfg.InterceptBind = c.Bool("intercept-bind")
	if !cfg.InterceptBind {
		if cfg.Ready.Kind == wrapper.ReadyListen {
			return usagef("bad --ready listen: it needs --intercept-bind (only then does zedr-run see the child's listen())")
		}
		return nil
	}
	if len(specs) == 0 {
		return usagef("--intercept-bind needs at least one --listen: the addresses whose bind() zedr-run answers")
	}
	if len(cfg.Compat) > 0 {
		return usagef("--compat cannot be used with --intercept-bind: in transparent mode the child gets no inherited sockets and no variables")
	}
	if err := seccomp.Check(); err != nil {
		return fmt.Errorf("--intercept-bind cannot work here: %w", err)
	}
	return nil
}
