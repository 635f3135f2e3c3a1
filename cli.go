//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"zedr-run/internal/logbuf"
	"zedr-run/reexec"
	"zedr-run/socketact"
	"zedr-run/wrapper"
	"zedr-run/wrapper/control"
)

const description = `zedr-run opens the sockets given with --listen and keeps them open for the
whole life of the service. It starts COMMAND with the sockets as fds 3, 4, ...
and LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES set, as systemd does (sd_listen_fds(3)).

On SIGUSR2 it starts a new generation of COMMAND first, waits until it is ready
(--ready), and only then stops the old one gracefully. A new child that exits or
is not ready in time is killed and the old one keeps serving. A new binary
deployed over COMMAND's executable (or a --watch path) restarts the same way,
once its content has changed and settled (--check can veto it). A child that
crashes is started again, with backoff, while the sockets stay open: clients
wait in the accept queue instead of being refused.

SIGTERM and SIGINT stop every generation gracefully (after --stop-delay); zedr-run
then exits with the child's status (128+N if signal N killed it). Other signals
(HUP, USR1, QUIT, WINCH, ...) are forwarded to the current child, or do what
--map-signal says. Exit code 2 means a bad
command line, 1 that a socket or the first child could not be started. A child
that keeps crashing, or never becomes ready, makes zedr-run stop and exit with
its status once --start-limit is reached.

Every option can also be set by an environment variable, shown after it.
Several --listen, --compat or --restart-signal values may be given in one
value, separated by ';' (handy for ZEDR_LISTEN).

SOCKETS (--listen PROTO:ADDRESS[,OPTION]...):
   tcp::8080                 all addresses, port 8080 (dual-stack where possible)
   tcp:127.0.0.1:8080        tcp:[::1]:8080        tcp4::8080      tcp6::8080
   udp::5353                 udp4:127.0.0.1:53     udp6:[::1]:53
   unix:/run/app.sock        unix:@abstract-name   unixgram:/run/app.dgram
   unixpacket:/run/app.seq
   options: name=NAME (LISTEN_FDNAMES), backlog=N, reuseport,
            mode=0660 and owner=USER[:GROUP] (unix socket files)

TRANSPARENT MODE (--intercept-bind, for servers that bind their own sockets):
   with --listen SPEC   a bind() of that address gets zedr-run's socket
   with no --listen     (or --listen auto) zedr-run adopts each socket the
                        server binds to a fixed address and listen()s on (UDP:
                        binds), and gives it to every later generation's bind()
                        of the same address; never port 0, never a client
                        socket that binds before connect(). A socket the new
                        configuration no longer binds is closed once the old
                        generation is gone. zedr-run status lists them.

EXAMPLES:
   zedr-run --listen tcp::8080 -- ./myserver
   zedr-run --intercept-bind --ready listen --stop-signal QUIT -- nginx -c app.conf
   zedr-run --listen tcp:127.0.0.1:8080,name=web --ready notify -- ./myserver --config app.conf
   kill -USR2 $(pidof zedr-run)           # restart with zero downtime
   ZEDR_LISTEN='tcp::80;tcp::443' zedr-run -- /usr/local/bin/server`

// newApp builds the command line: help and usage go to stderr, the log of
// a running zedr-run to logs.
func newApp(stderr io.Writer, logs *logbuf.Writer) *cli.App {
	return &cli.App{
		Name:                   "zedr-run",
		Usage:                  "restart network services with zero downtime, without changing them",
		UsageText:              "zedr-run [options] -- COMMAND [ARG...]\n" + controlUsage + "\n" + docUsage,
		Description:            description,
		Version:                zedrVersion(),
		HideHelpCommand:        true,
		EnableBashCompletion:   true, // zedr-run completion bash
		UseShortOptionHandling: false,
		SliceFlagSeparator:     ";",
		Writer:                 stderr,
		ErrWriter:              stderr,
		ExitErrHandler:         func(*cli.Context, error) {}, // run maps errors to exit codes after cleanup
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "listen", Aliases: []string{"l"}, EnvVars: []string{"ZEDR_LISTEN"},
				Usage: "open and hand over the socket `SPEC` (repeatable; the first is fd 3); auto, with --intercept-bind: also adopt what the command binds itself"},
			&cli.StringFlag{Name: "ready", EnvVars: []string{"ZEDR_READY"}, Value: wrapper.DefaultReadiness.String(),
				Usage: "when a new child counts as ready (`MODE`): notify (READY=1 on NOTIFY_SOCKET), delay:DURATION (alive that long), exec:CMD (a probe exits 0; run directly when it has no shell syntax, or as exec:[\"/probe\",\"--fast\"], else through /bin/sh), listen (--intercept-bind: it took its sockets)"},
			&cli.DurationFlag{Name: "ready-timeout", EnvVars: []string{"ZEDR_READY_TIMEOUT"}, Value: wrapper.DefaultReadyTimeout,
				Usage: "kill a new child that is not ready after this long; the old one keeps serving (a child may extend it with EXTEND_TIMEOUT_USEC= on NOTIFY_SOCKET)"},
			&cli.DurationFlag{Name: "min-ready", EnvVars: []string{"ZEDR_MIN_READY"},
				DefaultText: wrapper.DefaultMinReadyListen.String() + " with --ready listen, 0 otherwise",
				Usage:       "after its readiness a new child must stay up `DURATION` before the old one is told to stop; dying within it is a rollback"},
			&cli.StringFlag{Name: "stop-signal", EnvVars: []string{"ZEDR_STOP_SIGNAL"}, Value: "TERM",
				Usage: "the `SIGNAL` that asks an old child to stop gracefully (nginx: QUIT, lighttpd: INT, memcached: USR1; README: \"Which stop signal for which server\")"},
			&cli.DurationFlag{Name: "stop-timeout", EnvVars: []string{"ZEDR_STOP_TIMEOUT"}, Value: wrapper.DefaultStopTimeout,
				Usage: "how long an old child may drain before its process group is killed (a child may extend it with EXTEND_TIMEOUT_USEC=)"},
			&cli.StringSliceFlag{Name: "restart-signal", EnvVars: []string{"ZEDR_RESTART_SIGNAL"},
				Usage: "another `SIGNAL` that triggers a restart, besides USR2 (repeatable)"},
			&cli.StringSliceFlag{Name: "compat", EnvVars: []string{"ZEDR_COMPAT"},
				Usage: "also set another tool's variables: einhorn, server-starter, nginx (repeatable)"},
			&cli.BoolFlag{Name: "fdstore", EnvVars: []string{"ZEDR_FDSTORE"},
				Usage: "also keep the sockets, and the descriptors the children store, in systemd's file descriptor store (the unit needs FileDescriptorStoreMax=), so that they survive a restart or crash of zedr-run itself"},
			&cli.IntFlag{Name: "fdstore-max", EnvVars: []string{"ZEDR_FDSTORE_MAX"}, Value: wrapper.DefaultFDStoreMax,
				Usage: "keep up to `N` descriptors the children store (FDSTORE=1 and FDNAME= on NOTIFY_SOCKET, as systemd's FileDescriptorStoreMax=) and hand them to every later generation after the --listen sockets, named in LISTEN_FDNAMES; 0 turns the store off"},
			&cli.IntFlag{Name: "workers", EnvVars: []string{"ZEDR_WORKERS"}, Value: 1,
				Usage: fmt.Sprintf("run `N` children per generation on the same sockets, each with ZEDR_WORKER=0..N-1 (at most %d)", wrapper.MaxWorkers)},
			&cli.StringFlag{Name: "rollout", EnvVars: []string{"ZEDR_ROLLOUT"}, Value: wrapper.DefaultRollout,
				Usage: "how a restart replaces the workers: rolling (--surge at a time, capacity never below N) or all (N new, then stop the N old)"},
			&cli.IntFlag{Name: "surge", EnvVars: []string{"ZEDR_SURGE"}, Value: wrapper.DefaultSurge,
				Usage: "in a rolling restart, start up to `K` new workers at once while the old ones serve, each replacing an old one when ready (Kubernetes' maxSurge): a restart takes about ceil(N/K) start-ups and runs up to N+K processes; 1 to --workers, and --surge N is --rollout all"},
			&cli.StringFlag{Name: "user", EnvVars: []string{"ZEDR_USER"},
				Usage: "run the children as `USER[:GROUP]` with that user's groups (zedr-run must be root; it keeps the sockets)"},
			&cli.StringFlag{Name: "group", EnvVars: []string{"ZEDR_GROUP"},
				Usage: "the children's primary `GROUP` instead of the user's (with --user)"},
			&cli.BoolFlag{Name: "spare-shim", EnvVars: []string{"ZEDR_SPARE_SHIM"}, Value: wrapper.DefaultSpareShim,
				Usage: "keep one idle zedr-run process (a few MiB of RSS) forked ahead of time to start the next child, which takes about 4 ms off each restart (3.4 MiB PSS); --spare-shim=false forks a shim at each start instead"},
			&cli.BoolFlag{Name: "intercept-bind", EnvVars: []string{"ZEDR_INTERCEPT_BIND"},
				Usage: "transparent mode (Linux >= 5.9): hand the sockets over when the command itself calls bind() on a --listen address, for programs that know nothing of LISTEN_FDS; with no --listen (or --listen auto) the sockets the first generation binds and listens on are adopted and handed to later ones"},
			&cli.StringFlag{Name: "log-level", EnvVars: []string{"ZEDR_LOG_LEVEL"}, Value: "info",
				Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", EnvVars: []string{"ZEDR_LOG_FORMAT"}, Value: "text",
				Usage: "text or json"},
			&cli.StringFlag{Name: "control", EnvVars: []string{"ZEDR_CONTROL"},
				Usage: "create the control socket at `PATH` (default: $XDG_RUNTIME_DIR/zedr-run/PID.sock, /run/zedr-run/PID.sock or $TMPDIR/zedr-run-UID/PID.sock)"},
			&cli.StringFlag{Name: "pid-file", EnvVars: []string{"ZEDR_PID_FILE"},
				Usage: "write zedr-run's pid to `PATH` (removed at exit)"},
		}, append(watchFlags, append(orchestrationFlags, append(watchdogFlags, httpFlag)...)...)...),
		Action: func(c *cli.Context) error { return serve(c, logs) },
	}
}

// run is zedr-run's whole life: parse the command line, open the sockets,
// supervise the command. It returns childExit with the child's status, a
// usageError for a bad command line, or another error for a startup failure.
// zedr-run's log goes to logs.
func run(ctx context.Context, args []string, logs *logbuf.Writer) error {
	return runWith(ctx, args, os.Stdout, os.Stderr, logs)
}

// runWith is run with the command's output to stdout and help, usage and
// errors to stderr.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, logs *logbuf.Writer) error {
	app := newApp(stderr, logs)
	// Only zedr-run's first argument can name a control command: after
	// options or "--", "status" is the child's name.
	app.Commands = commandsFor(args, stdout)
	if len(args) > 1 && args[len(args)-1] == completionFlag {
		app.Writer = stdout // the completion script reads the candidates there
	}
	return app.RunContext(ctx, args)
}

func serve(c *cli.Context, logs *logbuf.Writer) error {
	command := c.Args().Slice()
	if len(command) == 0 {
		if c.NArg() == 0 && c.NumFlags() == 0 {
			cli.ShowAppHelp(c)
		}
		return usagef("no command given: zedr-run [options] -- COMMAND [ARG...]")
	}
	cfg, specs, logger, err := configure(c, logs)
	if err != nil {
		return err
	}
	cfg.Command = command
	exe, err := exec.LookPath(command[0])
	if err != nil {
		return fmt.Errorf("cannot run %s: %w", command[0], err)
	}
	wc, err := configureWatch(c, exe)
	if err != nil {
		return err
	}
	cfg.Check = c.String("check")
	if err := checkCommands(cfg.Ready, cfg.Check); err != nil {
		return err
	}
	if path := c.String("pid-file"); path != "" {
		remove, err := writePidFile(path)
		if err != nil {
			return err
		}
		defer remove()
	}
	if cfg.ControlPath = c.String("control"); cfg.ControlPath == "" {
		var swept int
		if cfg.ControlPath, swept, err = control.PathFor(os.Getpid()); err != nil {
			logger.Warn("no control socket: zedr-run status, restart and stop will not work", "err", fmt.Errorf("%w (choose a path with --control)", err))
		} else if swept > 0 {
			logger.Info("removed stale control sockets of dead zedr-run processes", "dir", filepath.Dir(cfg.ControlPath), "count", swept)
		}
	}
	cfg.Version = zedrVersion()
	if cfg.SelfPath, err = os.Executable(); err != nil {
		logger.Warn("zedr-run cannot find its own binary: zedr-run reexec will not work", "err", err)
	}
	// A zedr-run that a previous one exec'd in its place (zedr-run reexec)
	// takes the sockets and the children over instead of starting afresh.
	if cfg.Handoff, err = reexec.ParseHandoff(); err != nil {
		return err
	}

	var socks []*socketact.Socket
	if cfg.Handoff != nil {
		socks, err = handedOverSockets(cfg.Handoff)
	} else {
		// What the children kept in systemd's store (--fdstore) comes back
		// with the sockets: set apart, for the children's store.
		socks, cfg.ManagerStored, err = socketact.OpenAllStored(specs)
	}
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range socks {
			if cfg.KeepSocketFiles {
				s.File.Close()
			} else {
				s.Close()
			}
		}
	}()
	if c.Bool("fdstore") && cfg.Handoff == nil {
		if err := socketact.StoreFDs(cfg.OuterNotify, socks); err != nil {
			return err
		}
		logger.Info("sockets kept in the service manager's fd store", "count", len(socks))
	}
	for i, s := range socks {
		logger.Info("listening", "fd", socketact.ListenFdsStart+i, "spec", s.Spec.String(), "addr", s.Addr(), "name", s.Spec.FDName(), "inherited", s.Inherited)
	}
	cfg.Sockets = socks
	httpEnd, err := openHTTP(c, &cfg)
	if err != nil {
		return err
	}
	setFootprint(cfg)

	signal.Notify(signals, append(append(handledSignals, cfg.RestartSignals...), mappedSignals(cfg.SignalMap)...)...)
	defer signal.Stop(signals)
	cfg.Signals = signals

	// The watchers ask the supervisor for restarts (and re-execs) as the
	// control socket does: by its request methods.
	sv := wrapper.New(cfg)
	defer httpEnd.serve(sv, logger)()
	stopWatching, err := startWatching(c.Context, wc, logger, func(source string) { sv.Restart(source, false) })
	if err != nil {
		return err
	}
	defer stopWatching()
	if c.Bool("watch-self") {
		answered := make(chan struct{})
		close(answered) // the watcher has no answer to write before the exec
		// The loop logs why a re-exec is refused.
		reexec := func(by string) { sv.Reexec(by, answered) }
		stopSelf, err := watchSelf(c.Context, cfg.SelfPath, wc.settle, logger, reexec)
		if err != nil {
			return err
		}
		defer stopSelf()
	}

	code, err := sv.Run(c.Context)
	if err != nil {
		return listenHint(err)
	}
	if code != 0 {
		return childExit(code)
	}
	return nil
}

// signals receives what zedr-run catches, from the start of main on.
var signals = make(chan os.Signal, 16)

// handledSignals are caught by zedr-run: TERM and INT stop it, USR2
// restarts, the others are forwarded to the child. Never SIGCHLD (the
// reaper's) or SIGURG (the Go runtime's), nor SIGPIPE (see selfSignals).
var handledSignals = []os.Signal{
	unix.SIGTERM, unix.SIGINT, unix.SIGUSR2,
	unix.SIGHUP, unix.SIGUSR1, unix.SIGQUIT, unix.SIGWINCH, unix.SIGALRM, unix.SIGPWR,
}

// selfSignals catches SIGPIPE, which zedr-run raises on itself each time it
// writes to a stdout or stderr whose reader went away: caught, so that it
// does not kill zedr-run, and dropped (nobody reads this channel), so that
// it is not forwarded to the child as a signal someone sent. Ignoring it
// instead (SIG_IGN) would pass on to every child as ignored.
var selfSignals = make(chan os.Signal, 1)

// configure turns the flags into the supervisor's config and the socket specs.
func configure(c *cli.Context, logs *logbuf.Writer) (wrapper.Config, []socketact.Spec, *slog.Logger, error) {
	var cfg wrapper.Config
	logger, err := newLogger(logs, c.String("log-level"), c.String("log-format"))
	if err != nil {
		return cfg, nil, nil, err
	}
	logs.OnDrop(func(n uint64) {
		logger.Warn(fmt.Sprintf("dropped %d log lines", n), "dropped_total", logs.Dropped(),
			"why", "zedr-run's log output (stderr) was not read fast enough")
	})
	cfg.Logger = logger
	cfg.FlushLog = func() { logs.Flush(logFlushTimeout) }
	cfg.LogDropped = logs.Dropped

	var specs []socketact.Spec
	auto := false
	for _, v := range c.StringSlice("listen") {
		if strings.TrimSpace(v) == listenAuto {
			auto = true
			continue
		}
		spec, err := socketact.ParseSpec(strings.TrimSpace(v))
		if err != nil {
			return cfg, nil, nil, listenUsage(err)
		}
		specs = append(specs, spec)
	}
	if err := socketact.CheckSpecs(specs); err != nil {
		return cfg, nil, nil, listenUsage(err)
	}
	for _, name := range c.StringSlice("compat") {
		if err := socketact.CheckCompat(name); err != nil {
			return cfg, nil, nil, usageError{fmt.Errorf("bad --compat: %w", err)}
		}
		cfg.Compat = append(cfg.Compat, name)
	}
	if cfg.Ready, err = wrapper.ParseReadiness(c.String("ready")); err != nil {
		err = fmt.Errorf("bad --ready %q: %w", c.String("ready"), err)
		return cfg, nil, nil, usageError{err}
	}
	if cfg.ReadyTimeout, err = positive(c, "ready-timeout"); err != nil {
		return cfg, nil, nil, err
	}
	if cfg.StopTimeout, err = positive(c, "stop-timeout"); err != nil {
		return cfg, nil, nil, err
	}
	if c.IsSet("min-ready") {
		switch d := c.Duration("min-ready"); {
		case d < 0:
			return cfg, nil, nil, usagef("bad --min-ready %v: must not be negative", d)
		case d == 0:
			cfg.MinReady = wrapper.NoMinReady
		default:
			cfg.MinReady = d
		}
	}
	if cfg.StopSignal, err = parseSignal("--stop-signal", c.String("stop-signal")); err != nil {
		return cfg, nil, nil, err
	}
	cfg.RestartSignals = []os.Signal{unix.SIGUSR2}
	for _, v := range c.StringSlice("restart-signal") {
		sig, err := parseSignal("--restart-signal", v)
		if err != nil {
			return cfg, nil, nil, err
		}
		switch sig {
		case unix.SIGTERM, unix.SIGINT, unix.SIGCHLD, unix.SIGURG, unix.SIGKILL, unix.SIGSTOP:
			return cfg, nil, nil, usagef("bad --restart-signal %q: %s cannot be a restart signal", v, unix.SignalName(sig))
		}
		cfg.RestartSignals = append(cfg.RestartSignals, sig)
	}
	if err := configureWorkers(c, &cfg); err != nil {
		return cfg, nil, nil, err
	}
	if err := configureIntercept(c, &cfg, specs, auto); err != nil {
		return cfg, nil, nil, err
	}
	if err := configureOrchestration(c, &cfg); err != nil {
		return cfg, nil, nil, err
	}
	if err := checkHTTP(c); err != nil {
		return cfg, nil, nil, err
	}
	if err := configureWatchdog(c, &cfg, os.Getenv, os.Getpid()); err != nil {
		return cfg, nil, nil, err
	}
	if cfg.FDStoreMax = c.Int("fdstore-max"); cfg.FDStoreMax < 0 {
		return cfg, nil, nil, usagef("bad --fdstore-max %d: want 0 (no store) or more", cfg.FDStoreMax)
	}
	cfg.Env = childEnv(os.Environ())
	cfg.SpareShim = c.Bool("spare-shim")
	// For tests and troubleshooting only, so not a flag: see wrapper.ContainScan.
	switch cfg.Containment = os.Getenv("ZEDR_CONTAINMENT"); cfg.Containment {
	case wrapper.ContainAuto, wrapper.ContainCgroup, wrapper.ContainScan:
	default:
		return cfg, nil, nil, usagef("bad ZEDR_CONTAINMENT %q: want cgroup or scan (or unset: cgroup where possible)", cfg.Containment)
	}
	cfg.OuterNotify = os.Getenv("NOTIFY_SOCKET") // zedr-run's own service manager, if any
	// With --fdstore the store holds the sockets too (their files stay),
	// and what the children store.
	cfg.ForwardStore = c.Bool("fdstore")
	if cfg.KeepSocketFiles = c.Bool("fdstore"); cfg.KeepSocketFiles && cfg.OuterNotify == "" {
		return cfg, nil, nil, usagef("--fdstore needs a service manager: NOTIFY_SOCKET is not set (run zedr-run as a systemd service with FileDescriptorStoreMax=)")
	}
	return cfg, specs, logger, nil
}

func positive(c *cli.Context, name string) (time.Duration, error) {
	d := c.Duration(name)
	if d <= 0 {
		return 0, usagef("bad --%s %v: must be more than zero", name, d)
	}
	return d, nil
}

// parseSignal accepts TERM, SIGTERM, term or 15.
func parseSignal(flag, v string) (syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimSpace(v))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err == nil && n > 0 && n < 65 && unix.SignalName(syscall.Signal(n)) != "" {
		return syscall.Signal(n), nil
	}
	return 0, usagef("bad %s %q: not a signal name or number (TERM, QUIT, HUP, USR1, ...)", flag, v)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("bad --log-format %q: want text or json", format)
}

// childEnv is the environment the children start from: zedr-run's own,
// without what was meant for zedr-run (its activation variables, its own
// watchdog and options), which would otherwise mislead a child.
func childEnv(env []string) []string {
	env = socketact.StripEnv(env)
	out := env[:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "ZEDR_") || strings.HasPrefix(kv, "WATCHDOG_USEC=") || strings.HasPrefix(kv, "WATCHDOG_PID=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// handedOverSockets takes the sockets a previous zedr-run handed over, at
// the fds it says, in its order.
func handedOverSockets(h *reexec.Handoff) ([]*socketact.Socket, error) {
	var socks []*socketact.Socket
	for _, hs := range h.Sockets {
		spec, err := socketact.ParseSpec(hs.Spec)
		if err == nil {
			var sock *socketact.Socket
			sock, err = socketact.Adopt(spec, os.NewFile(uintptr(hs.FD), spec.FDName()), hs.Inherited, hs.Owned)
			if err == nil {
				unix.CloseOnExec(hs.FD)
				socks = append(socks, sock)
				continue
			}
		}
		return nil, fmt.Errorf("socket handed over by the previous zedr-run (fd %d, %s): %w", hs.FD, hs.Spec, err)
	}
	return socks, nil
}

// listenUsage is a rejected socket spec as a usage error that names
// --listen.
func listenUsage(err error) error {
	var se *socketact.SpecError
	if errors.As(err, &se) {
		return usageError{fmt.Errorf("bad --listen %q: %s", se.Spec, se.Reason)}
	}
	return usageError{err}
}
