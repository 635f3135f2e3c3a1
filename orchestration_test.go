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
	for _, want := range []string{"--start-limit N/DURATION", `(default: "5/1m0s")`, "ZEDR_START_LIMIT", "--stop-delay", "ZEDR_STOP_DELAY"} {
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
