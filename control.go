//go:build linux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"zedr-run/wrapper/control"
)

// The control commands talk to a running zedr-run over its control socket.
// They are dispatched only when the command is zedr-run's first argument,
// so that `zedr-run -- status` still runs a program named status.

// controlCommands are the subcommands; isControlCommand checks args[1].
func controlCommands(stdout io.Writer) []*cli.Command {
	find := []cli.Flag{
		&cli.StringFlag{Name: "control", EnvVars: []string{"ZEDR_CONTROL"},
			Usage: "the control socket `PATH` of the zedr-run to talk to"},
		&cli.IntFlag{Name: "pid", Usage: "talk to the zedr-run with this `PID`"},
	}
	return []*cli.Command{
		{
			Name:      "status",
			Usage:     "show what a running zedr-run is doing",
			UsageText: "zedr-run status [--json] [--pid PID | --control PATH]",
			Description: "Exit status, for probes (Docker HEALTHCHECK, a Kubernetes exec probe):\n" +
				"0 when a ready generation serves and zedr-run is not stopping, 3 when\n" +
				"nothing serves or zedr-run is stopping (as systemctl status), 1 when no\n" +
				"zedr-run can be reached.",
			Flags: append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the status as JSON"}}, find...),
			Action: func(c *cli.Context) error {
				resp, err := controlRequest(c, control.Request{Cmd: control.CmdStatus})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					if err := enc.Encode(resp.Status); err != nil {
						return err
					}
				} else {
					printStatus(stdout, resp.Status, time.Now())
				}
				return probeResult(resp.Status)
			},
		},
		{
			Name:      "restart",
			Usage:     "restart the child with zero downtime, as SIGUSR2 does",
			UsageText: "zedr-run restart [--wait] [--pid PID | --control PATH]",
			Description: "With --wait, return once the new generation took over (exit 0), or\n" +
				"exit 1 with the reason when the restart was refused or rolled back.",
			Flags: append([]cli.Flag{&cli.BoolFlag{Name: "wait", Usage: "wait for the outcome"}}, find...),
			Action: func(c *cli.Context) error {
				resp, err := controlRequest(c, control.Request{Cmd: control.CmdRestart, Wait: c.Bool("wait")})
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, resp.Message)
				return nil
			},
		},
		{
			Name:      "reexec",
			Usage:     "replace a running zedr-run's binary in place, keeping its sockets and children",
			UsageText: "zedr-run reexec [--pid PID | --control PATH]",
			Description: "The running zedr-run first runs its binary on disk as a check; if that\n" +
				"passes, it execs it in place (same pid), handing over the sockets, the\n" +
				"generations and their states, and carries on supervising them. If the\n" +
				"check fails, it says why and carries on as it is.",
			Flags: find,
			Action: func(c *cli.Context) error {
				resp, err := controlRequest(c, control.Request{Cmd: control.CmdReexec})
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, resp.Message)
				return nil
			},
		},
		{
			Name:      "stop",
			Usage:     "stop every generation gracefully and exit, as SIGTERM does",
			UsageText: "zedr-run stop [--pid PID | --control PATH]",
			Flags:     find,
			Action: func(c *cli.Context) error {
				resp, err := controlRequest(c, control.Request{Cmd: control.CmdStop})
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, resp.Message)
				return nil
			},
		},
	}
}

// exitNotServing is zedr-run status's exit code when nothing serves or
// zedr-run is stopping: systemctl status's 3 ("program is not running"),
// so that a probe fails exactly when the service should get no traffic.
const exitNotServing = 3

// probeResult is status's outcome: nil while a ready generation serves and
// zedr-run is not stopping, childExit(exitNotServing) otherwise.
func probeResult(st *control.Status) error {
	if st.Serving() {
		return nil
	}
	return childExit(exitNotServing)
}

func isControlCommand(arg string) bool {
	switch arg {
	case control.CmdStatus, control.CmdRestart, control.CmdStop, control.CmdReexec:
		return true
	}
	return false
}

// controlRequest finds the zedr-run meant, sends req and returns the answer,
// or an error when the answer is no.
func controlRequest(c *cli.Context, req control.Request) (control.Response, error) {
	if c.NArg() > 0 {
		return control.Response{}, usagef("%s takes no arguments, got %q", c.Command.Name, c.Args().Slice())
	}
	path := c.String("control")
	pid := c.Int("pid")
	switch {
	case path != "" && c.IsSet("pid"):
		return control.Response{}, usagef("give --pid or --control, not both")
	case c.IsSet("pid") && pid <= 0:
		return control.Response{}, usagef("bad --pid %d: want a process id", pid)
	case path == "":
		var err error
		if path, err = control.Find(pid, declaredControl); err != nil {
			return control.Response{}, findHint(err)
		}
	}
	resp, err := control.Do(path, req)
	if errors.Is(err, unix.EACCES) {
		return resp, fmt.Errorf("%w: only the user zedr-run runs as, or root, may control it", err)
	}
	if err != nil {
		return resp, err
	}
	if !resp.OK {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// findHint adds to an error of control.Find the flags that help.
func findHint(err error) error {
	switch {
	case errors.Is(err, control.ErrNoneRunning):
		return fmt.Errorf("%w; name one with --pid PID or --control PATH", err)
	case errors.Is(err, control.ErrSeveral):
		return fmt.Errorf("%w; choose one with --pid PID or --control PATH", err)
	case errors.Is(err, control.ErrNotFound):
		return fmt.Errorf("%w If it was started with --control PATH, pass the same --control PATH", err)
	}
	return err
}

// listenHint adds to an error of control.Listen (through wrapper.Run) the
// flag that helps.
func listenHint(err error) error {
	switch {
	case errors.Is(err, control.ErrPathTooLong):
		return fmt.Errorf("%w; choose a shorter one with --control", err)
	case errors.Is(err, control.ErrInTheWay):
		return fmt.Errorf("%w; remove it or choose another path with --control", err)
	case errors.Is(err, control.ErrInUse):
		return fmt.Errorf("%w; choose another path with --control", err)
	}
	return err
}

// printStatus writes the status as a table, for people.
func printStatus(w io.Writer, st *control.Status, now time.Time) {
	if st == nil {
		return
	}
	state := "running"
	if st.Stopping {
		state = "stopping"
	}
	fmt.Fprintf(w, "zedr-run pid=%d version=%s %s, up %s\n", st.PID, st.Version, state, ago(now, st.Started))
	fmt.Fprintf(w, "command: %s\n", strings.Join(st.Command, " "))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(st.Sockets) > 0 {
		fmt.Fprintln(tw, "\nFD\tNAME\tADDRESS\tSPEC")
		for _, s := range st.Sockets {
			addr, fd := s.Addr, strconv.Itoa(s.FD)
			if s.Inherited {
				addr += " (inherited)"
			}
			if s.AdoptedBy != 0 {
				addr += fmt.Sprintf(" (adopted from gen %d)", s.AdoptedBy)
				fd = "-" // no LISTEN_FDS number: it reaches children only through their bind()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", fd, s.Name, addr, s.Spec)
		}
	}
	if len(st.FDStore) > 0 {
		fmt.Fprintln(tw, "\nSTORED FD\tNAME\tKIND\tFROM GEN")
		for _, s := range st.FDStore {
			kind := s.Kind
			if !s.Poll {
				kind += " (FDPOLL=0)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", s.FD, s.Name, kind, s.Gen)
		}
	}
	fmt.Fprintln(tw, "\nGEN\tPID\tSTATE\tSTARTED\tREADY AFTER\tWHY\tEXIT")
	for _, g := range st.Generations {
		name := g.State
		if g.Current {
			name += " (serving)"
		}
		readyAfter := "-"
		if g.ReadyAfter > 0 {
			readyAfter = g.ReadyAfter.Round(time.Millisecond).String()
		}
		exit := g.Exit
		if exit == "" {
			exit = "-"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s ago\t%s\t%s\t%s\n", g.Gen, g.PID, name, ago(now, g.Started), readyAfter, g.Why, exit)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nrestarts: %d  rollbacks: %d  crashes: %d\n", st.Restarts, st.Rollbacks, st.Crashes)
	if r := st.LastRestart; r != nil {
		fmt.Fprintf(w, "last restart: generation %d by %s: %s", r.Gen, r.By, r.Result)
		if r.Reason != "" {
			fmt.Fprintf(w, ": %s", r.Reason)
		}
		fmt.Fprintf(w, " (%s ago)\n", ago(now, r.At))
	} else {
		fmt.Fprintln(w, "last restart: none")
	}
	if st.RestartQueued {
		fmt.Fprintln(w, "a restart is queued")
	}
	if st.LogLinesDropped > 0 {
		fmt.Fprintf(w, "log lines dropped: %d (zedr-run's stderr was not read fast enough)\n", st.LogLinesDropped)
	}
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

const controlUsage = `zedr-run status [--json] | restart [--wait] | stop | reexec   [--pid PID | --control PATH]`
