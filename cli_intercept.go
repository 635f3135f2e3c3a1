//go:build linux

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"zedr-run/internal/seccomp"
	"zedr-run/socketact"
	"zedr-run/wrapper"
)

// listenAuto is the --listen value that asks transparent mode to adopt the
// sockets the command binds itself, besides any declared ones.
const listenAuto = "auto"

// configureIntercept checks --intercept-bind against the other options and
// the system: transparent mode is refused, never silently degraded. With no
// --listen, or --listen auto (auto), it adopts what the command binds.
func configureIntercept(c *cli.Context, cfg *wrapper.Config, specs []socketact.Spec, auto bool) error {
	cfg.InterceptBind = c.Bool("intercept-bind")
	if !cfg.InterceptBind {
		if auto {
			return usagef("bad --listen auto: it needs --intercept-bind (only then does zedr-run see the sockets the command binds itself; otherwise name each socket to open)")
		}
		if cfg.Ready.Kind == wrapper.ReadyListen {
			return usagef("bad --ready listen: it needs --intercept-bind (only then does zedr-run see the child's listen())")
		}
		return nil
	}
	cfg.InterceptAdopt = auto || len(specs) == 0
	if len(cfg.Compat) > 0 {
		return usagef("--compat cannot be used with --intercept-bind: in transparent mode the child gets no inherited sockets and no variables")
	}
	if err := seccomp.Check(); err != nil {
		return fmt.Errorf("--intercept-bind cannot work here: %w", err)
	}
	return nil
}
