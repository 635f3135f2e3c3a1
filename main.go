//go:build linux

// Command zedr-run restarts network services with zero downtime, without
// changing them: it holds the listening sockets and hands them to each
// generation of the child by systemd's LISTEN_FDS protocol.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/logbuf"
	"zedr-run/reexec"
	spawner "zedr-run/wrapper/proc"
)

// Exit codes of zedr-run itself; otherwise it exits with the child's status.
const (
	exitStartup = 1 // a socket or the first child could not be started
	exitUsage   = 2 // bad command line
)

// logFlushTimeout bounds how long zedr-run waits, when it exits or execs
// itself, for its queued log lines to be written: an output that nobody
// reads must not keep it from exiting.
const logFlushTimeout = 2 * time.Second

// The main thread is zedr-run's spawner: every child is forked from it, so
// that the children's parent-death signal is tied to a thread that lives as
// long as zedr-run, even across `zedr-run reexec` (see spawner.ServeSpawns).
func init() { runtime.LockOSThread() }

func main() {
	if reexec.Init() {
		return // not reached: Init execs the command or exits
	}
	spawner.SpawnFromMainThread()
	// Catch signals first thing: a zedr-run that a `zedr-run reexec` just
	// started must not be killed by a SIGTERM or SIGUSR2 that arrives before
	// it has set itself up; they wait in the channel.
	signal.Notify(signals, handledSignals...)
	signal.Notify(selfSignals, unix.SIGPIPE)
	// zedr-run's own log, and its last word, go through a bounded queue:
	// a stderr that nobody reads must never stop the supervision.
	logs := logbuf.New(os.Stderr, logbuf.DefaultSize)
	go func() {
		err := run(context.Background(), os.Args, logs)
		code := exitCodeOf(logs, err)
		logs.Close(logFlushTimeout)
		os.Exit(code)
	}()
	spawner.ServeSpawns()
}

// usageError is a bad command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// childExit carries the child's exit code out of run.
type childExit int

func (c childExit) Error() string { return fmt.Sprintf("child exited with code %d", int(c)) }

// exitCodeOf maps err to zedr-run's exit code and says what went wrong on
// stderr.
func exitCodeOf(stderr io.Writer, err error) int {
	var code childExit
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "zedr-run: %v\nRun 'zedr-run --help' for usage.\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "zedr-run: %v\n", err)
	return exitStartup
}
