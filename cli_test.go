//go:build linux

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zedr-run/internal/logbuf"
)

// The tests of package main run the command line in-process and build
// nothing; they cover only what fails or answers before zedr-run opens a
// socket or starts a process. The end-to-end tests, which run the real
// binary, are in internal/e2e.

// runCLI runs zedr-run's command line in this process, as main does, and
// returns its exit code and what it wrote on stderr. Only for command lines
// that end before anything starts: it opens no socket and starts no child.
func runCLI(t *testing.T, args ...string) (code int, stderr string) {
	t.Helper()
	// As run by hand: no service manager, no option from the environment.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "NOTIFY_SOCKET" || strings.HasPrefix(name, "ZEDR_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	logs := logbuf.New(io.Discard, logbuf.DefaultSize)
	defer logs.Close(time.Second)
	var out strings.Builder
	err := newApp(&out, logs).RunContext(context.Background(), append([]string{"zedr-run"}, args...))
	code = exitCodeOf(&out, err)
	return code, out.String()
}

func TestHelp(t *testing.T) {
	code, out := runCLI(t, "--help")
	if code != 0 {
		t.Fatalf("zedr-run --help: exit %d\n%s", code, out)
	}
	for _, want := range []string{"zedr-run [options] -- COMMAND", "--listen", "ZEDR_LISTEN", "EXAMPLES", "SIGUSR2", "--ready", "(at most 1024)", "--surge K", "ZEDR_SURGE"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

// TestBadCommandLine: a command line that is wrong in itself is refused
// with exit 2 and a message naming the option, before zedr-run opens
// anything. internal/e2e's TestBadInput runs the same through the binary,
// with the failures that only opening a socket or starting a child finds.
func TestBadCommandLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", []string{"--listen", "tcp::8080"}, 2, "no command given"},
		{"unknown flag", []string{"--bogus", "--", "true"}, 2, "flag provided but not defined: -bogus"},
		{"spec without address", []string{"--listen", "tcp", "--", "true"}, 2, `bad --listen "tcp"`},
		{"unknown protocol", []string{"--listen", "sctp::80", "--", "true"}, 2, `bad --listen "sctp::80"`},
		{"port out of range", []string{"--listen", "tcp::70000", "--", "true"}, 2, `bad --listen "tcp::70000"`},
		{"unknown option", []string{"--listen", "tcp::8080,colour=red", "--", "true"}, 2, `bad --listen "tcp::8080,colour=red"`},
		{"mode not octal", []string{"--listen", "unix:/tmp/x.sock,mode=rw", "--", "true"}, 2, `bad --listen "unix:/tmp/x.sock,mode=rw"`},
		{"mode not octal digits", []string{"--listen", "unix:/tmp/x.sock,mode=0999", "--", "true"}, 2, `bad mode "0999": want octal`},
		{"duplicate listen", []string{"--listen", "tcp:127.0.0.1:8080", "--listen", "tcp:127.0.0.1:8080,name=x", "--", "true"}, 2, "duplicate of tcp:127.0.0.1:8080: both bind tcp 127.0.0.1:8080"},
		{"duplicate unix path", []string{"--listen", "unix:" + filepath.Join(dir, "dup.sock"), "--listen", "unix:" + filepath.Join(dir, ".", "dup.sock") + ",name=b", "--", "true"}, 2, "duplicate of unix:"},
		{"unknown socket owner", []string{"--listen", "unix:" + filepath.Join(dir, "owned.sock") + ",owner=no-such-user-zedr", "--", "true"}, 2, `owner=no-such-user-zedr: user "no-such-user-zedr": no such user`},
		{"bad ready", []string{"--ready", "sometimes", "--", "true"}, 2, `bad --ready "sometimes"`},
		{"bad ready delay", []string{"--ready", "delay:soon", "--", "true"}, 2, `bad --ready "delay:soon"`},
		{"bad duration", []string{"--stop-timeout", "forever", "--", "true"}, 2, "invalid value \"forever\" for flag -stop-timeout"},
		{"zero timeout", []string{"--ready-timeout", "0s", "--", "true"}, 2, "bad --ready-timeout 0s: must be more than zero"},
		{"negative min-ready", []string{"--min-ready", "-1s", "--", "true"}, 2, "bad --min-ready -1s: must not be negative"},
		{"bad stop signal", []string{"--stop-signal", "NOPE", "--", "true"}, 2, `bad --stop-signal "NOPE"`},
		{"restart signal TERM", []string{"--restart-signal", "TERM", "--", "true"}, 2, `bad --restart-signal "TERM": SIGTERM cannot be a restart signal`},
		{"bad compat", []string{"--compat", "inetd", "--", "true"}, 2, "inetd"},
		{"fdstore without a manager", []string{"--fdstore", "--listen", "tcp:127.0.0.1:0", "--", "true"}, 2, "--fdstore needs a service manager: NOTIFY_SOCKET is not set"},
		{"negative fd store", []string{"--fdstore-max", "-1", "--", "true"}, 2, "bad --fdstore-max -1: want 0 (no store) or more"},
		{"bad log level", []string{"--log-level", "loud", "--", "true"}, 2, `bad --log-level "loud"`},
		{"zero workers", []string{"--workers", "0", "--", "true"}, 2, "bad --workers 0: must be 1 or more"},
		{"too many workers", []string{"--workers", "10000", "--", "/no/such/server"}, 2, "bad --workers 10000: at most 1024"},
		{"bad rollout", []string{"--rollout", "sometimes", "--", "true"}, 2, `bad --rollout "sometimes": want rolling or all`},
		{"zero surge", []string{"--workers", "4", "--surge", "0", "--", "true"}, 2, "bad --surge 0: must be 1 or more"},
		{"surge above workers", []string{"--workers", "4", "--surge", "5", "--", "true"}, 2, "bad --surge 5: more than --workers 4"},
		{"surge with rollout all", []string{"--workers", "4", "--surge", "2", "--rollout", "all", "--", "true"}, 2, "--surge 2 contradicts --rollout all"},
		{"unknown user", []string{"--user", "no-such-user-zedr", "--", "true"}, 2, `user "no-such-user-zedr": no such user or group`},
		{"group without user", []string{"--group", "nogroup", "--", "true"}, 2, "--group \"nogroup\" needs --user"},
		{"ready listen without intercept", []string{"--listen", "tcp:127.0.0.1:0", "--ready", "listen", "--", "true"}, 2, "--ready listen: it needs --intercept-bind"},
		{"listen auto without intercept", []string{"--listen", "auto", "--", "true"}, 2, "bad --listen auto: it needs --intercept-bind"},
		{"intercept with compat", []string{"--intercept-bind", "--listen", "tcp:127.0.0.1:0", "--compat", "nginx", "--", "true"}, 2, "--compat cannot be used with --intercept-bind"},
		{"zero watch settle", []string{"--watch-settle", "0s", "--", "true"}, 2, "bad --watch-settle 0s: must be more than zero"},
		{"command not found", []string{"--listen", "tcp:127.0.0.1:0", "--", "/no/such/server"}, 1, "cannot run /no/such/server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("zedr-run %s\nexit %d, stderr:\n%s\nwant exit %d and a message with %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.msg)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a command line refused before start left files behind: %v", entries)
	}
}
