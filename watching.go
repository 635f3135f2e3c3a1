//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"zedr-run/watch"
)

// watchFlags are the options of binary replacement: what to watch, how long
// a change must settle, and the pre-flight check run before each restart.
var watchFlags = []cli.Flag{
	&cli.StringSliceFlag{Name: "watch", EnvVars: []string{"ZEDR_WATCH"},
		Usage: "also restart when the file or directory `PATH` changes content (repeatable)"},
	&cli.BoolFlag{Name: "no-watch", EnvVars: []string{"ZEDR_NO_WATCH"},
		Usage: "do not watch COMMAND's executable (only the --watch paths, if any)"},
	&cli.DurationFlag{Name: "watch-settle", EnvVars: []string{"ZEDR_WATCH_SETTLE"}, Value: watch.DefaultSettle,
		Usage: "a watched file must stay unchanged this long before its change restarts"},
	&cli.BoolFlag{Name: "watch-self", EnvVars: []string{"ZEDR_WATCH_SELF"},
		Usage: "when zedr-run's own binary is replaced, re-execute it in place (as zedr-run reexec does), keeping the sockets and the children"},
	&cli.StringFlag{Name: "check", EnvVars: []string{"ZEDR_CHECK"},
		Usage: "run `CMD` before each restart; if it fails, no restart (like nginx -t). With no shell syntax, or as a JSON array [\"/bin/app\",\"-t\"], it runs directly (no /bin/sh needed); otherwise through /bin/sh"},
}

// watchConfig is what the watch options say.
type watchConfig struct {
	paths  []string
	settle time.Duration
}

// configureWatch reads the watch options. exe is the command's executable
// as found in PATH: watched unless --no-watch.
func configureWatch(c *cli.Context, exe string) (watchConfig, error) {
	var wc watchConfig
	if !c.Bool("no-watch") {
		wc.paths = append(wc.paths, exe)
	}
	for _, p := range c.StringSlice("watch") {
		if p == "" {
			return wc, usagef("bad --watch %q: want a file or directory path", p)
		}
		wc.paths = append(wc.paths, p)
	}
	wc.settle = c.Duration("watch-settle")
	if wc.settle <= 0 {
		return wc, usagef("bad --watch-settle %v: must be more than zero", wc.settle)
	}
	return wc, nil
}

// startWatching starts the watcher, if there is anything to watch, and
// returns a function that stops it and waits for it. Each settled content
// change becomes one call of restart; the supervisor coalesces requests
// that come during a restart.
func startWatching(ctx context.Context, wc watchConfig, logger *slog.Logger, restart func(source string)) (func(), error) {
	if len(wc.paths) == 0 {
		return func() {}, nil
	}
	stop, err := runWatcher(ctx, wc.paths, wc.settle, logger, func(ctx context.Context, c watch.Change) {
		logger.Info("watched file changed", "path", c.Path, "resolved", c.Resolved,
			"old_size", c.OldSize, "new_size", c.NewSize, "old_sha256", c.OldHash, "new_sha256", c.NewHash)
		restart("watcher: " + c.String())
	})
	if err != nil {
		return nil, fmt.Errorf("%w (a watched path must be in an existing directory; --no-watch stops watching COMMAND)", err)
	}
	logger.Info("watching", "paths", wc.paths, "settle", wc.settle)
	return stop, nil
}

// watchSelf watches zedr-run's own binary: each settled content change
// asks the supervisor to re-execute it (zedr-run reexec) by calling
// reexec. It returns a function that stops watching.
func watchSelf(ctx context.Context, self string, settle time.Duration, logger *slog.Logger, reexec func(by string)) (func(), error) {
	if self == "" {
		return nil, usagef("--watch-self: zedr-run cannot find its own binary")
	}
	stop, err := runWatcher(ctx, []string{self}, settle, logger, func(ctx context.Context, c watch.Change) {
		reexec("watcher: " + c.String())
	})
	if err != nil {
		return nil, fmt.Errorf("--watch-self: %w", err)
	}
	logger.Info("watching zedr-run's own binary", "path", self)
	return stop, nil
}

// runWatcher watches paths and calls changed for each settled change until
// the returned function is called, which waits for the watcher to end.
func runWatcher(ctx context.Context, paths []string, settle time.Duration, logger *slog.Logger, changed func(context.Context, watch.Change)) (func(), error) {
	w, err := watch.New(watch.Options{Paths: paths, Settle: settle, Logger: logger})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	changes := make(chan watch.Change)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx, changes); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("watching stopped: changes will not be acted on", "paths", paths, "err", err)
		}
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-changes:
				changed(ctx, c)
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}
