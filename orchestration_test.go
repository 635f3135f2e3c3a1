//go:build linux

package main

import (
	"strings"
	"testing"
)

// TestOrchestrationOptions: --help teaches the options orchestrators use,
// and bad values are usage errors (exit 2) naming the option.
func TestOrchestrationOptions(t *testing.T) {
	code, out := runCLI(t, "--help")
	if code != 0 {
		t.Fatalf("zedr-run --help: exit %d\n%s", code, out)
	}
	for _, want := range []string{"--start-limit N/DURATION", `(default: "5/1m0s")`, "ZEDR_START_LIMIT", "--stop-delay", "ZEDR_STOP_DELAY", "--map-signal FROM:TO", "ZEDR_MAP_SIGNAL"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"start limit without interval", []string{"--start-limit", "5", "--", "true"}, `bad --start-limit "5": want N/DURATION`},
		{"start limit bad count", []string{"--start-limit", "x/60s", "--", "true"}, `bad --start-limit "x/60s": restarts "x"`},
		{"start limit zero count", []string{"--start-limit", "0/60s", "--", "true"}, `bad --start-limit "0/60s": restarts "0"`},
		{"negative stop delay", []string{"--stop-delay", "-1s", "--", "true"}, "bad --stop-delay -1s: must not be negative"},
		{"bad stop delay", []string{"--stop-delay", "soon", "--", "true"}, `invalid value "soon" for flag -stop-delay`},
		{"map without TO", []string{"--map-signal", "HUP", "--", "true"}, `bad --map-signal "HUP": want FROM:TO`},
		{"map unknown FROM", []string{"--map-signal", "NOPE:restart", "--", "true"}, `bad --map-signal "NOPE:restart": FROM "NOPE" is not a signal`},
		{"map unknown TO", []string{"--map-signal", "HUP:reload", "--", "true"}, `bad --map-signal "HUP:reload": TO "reload" is not a signal, restart or ignore`},
		{"map TERM", []string{"--map-signal", "TERM:ignore", "--", "true"}, `bad --map-signal "TERM:ignore": SIGTERM cannot be mapped: it stops zedr-run`},
		{"map INT", []string{"--map-signal", "INT:HUP", "--", "true"}, `SIGINT cannot be mapped: it stops zedr-run`},
		{"map KILL", []string{"--map-signal", "KILL:restart", "--", "true"}, `SIGKILL cannot be mapped: it cannot be caught`},
		{"map CHLD", []string{"--map-signal", "CHLD:ignore", "--", "true"}, `SIGCHLD cannot be mapped`},
		{"map USR2", []string{"--map-signal", "USR2:ignore", "--", "true"}, `SIGUSR2 is a restart signal`},
		{"map a restart signal", []string{"--restart-signal", "HUP", "--map-signal", "HUP:QUIT", "--", "true"}, `bad --map-signal "HUP:QUIT": SIGHUP is a restart signal`},
		{"map conflict", []string{"--map-signal", "HUP:restart", "--map-signal", "SIGHUP:ignore", "--", "true"}, `bad --map-signal "SIGHUP:ignore": SIGHUP is already mapped to restart`},
		{"map conflict in one value", []string{"--map-signal", "HUP:QUIT;HUP:USR1", "--", "true"}, `SIGHUP is already mapped to SIGQUIT`},
		{"ready exec bad JSON", []string{"--ready", `exec:["/probe",`, "--", "true"}, `bad --ready "exec:[\"/probe\",": a command starting with [ is a JSON array of strings`},
		{"check bad JSON", []string{"--check", `[]`, "--", "true"}, `bad --check "[]": empty JSON array`},
		{"start limit bad interval", []string{"--start-limit", "5/soon", "--", "true"}, `bad --start-limit "5/soon": interval "soon"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.msg) {
				t.Errorf("zedr-run %s\nexit %d, stderr:\n%s\nwant exit 2 and a message with %q", strings.Join(tc.args, " "), code, stderr, tc.msg)
			}
		})
	}
}

// TestSignalMapSame: the same map given twice is no conflict.
func TestSignalMapSame(t *testing.T) {
	m, err := parseSignalMap([]string{"HUP:restart", "SIGHUP:RESTART", "1:restart", "usr1:quit"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 {
		t.Fatalf("%d maps, want 2: %v", len(m), m)
	}
}
