//go:build linux

package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWatchdogCommandLine: --watchdog and --watchdog-signal are taught by
// --help and refused with exit 2 when wrong.
func TestWatchdogCommandLine(t *testing.T) {
	_, help := runCLI(t, "--help")
	for _, want := range []string{"--watchdog DURATION", "WATCHDOG=1", "WATCHDOG=trigger", "ZEDR_WATCHDOG", "--watchdog-signal SIGNAL", `(default: "ABRT")`, "extend it with EXTEND_TIMEOUT_USEC="} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--watchdog", "-1s", "--", "true"}, "bad --watchdog -1s: must not be negative"},
		{[]string{"--watchdog", "1ns", "--", "true"}, "bad --watchdog 1ns: WATCHDOG_USEC counts microseconds"},
		{[]string{"--watchdog", "1s", "--watchdog-signal", "NOPE", "--", "true"}, `bad --watchdog-signal "NOPE"`},
	} {
		if code, stderr := runCLI(t, tc.args...); code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("zedr-run %s: exit %d, stderr:\n%s\nwant exit 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.msg)
		}
	}
}

// TestOuterWatchdog reads zedr-run's own watchdog as sd_watchdog_enabled(3)
// does.
func TestOuterWatchdog(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"30000000", "", 30 * time.Second},
		{"30000000", "42", 30 * time.Second},
		{"30000000", "43", 0}, // another process's watchdog
		{"0", "", 0},
		{"soon", "", 0},
		{"-5", "", 0},
	} {
		env := map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid}
		if got := outerWatchdog(func(k string) string { return env[k] }, 42); got != tc.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q for pid 42: %v, want %v", tc.usec, tc.pid, got, tc.want)
		}
	}
}

// TestChildEnvDropsWatchdog: zedr-run's own watchdog variables never reach
// a child, whose watchdog is --watchdog's alone.
func TestChildEnvDropsWatchdog(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "WATCHDOG_USEC=30000000", "WATCHDOG_PID=42", "WATCHDOG_OTHER=x"})
	if want := []string{"PATH=/bin", "WATCHDOG_OTHER=x"}; !slices.Equal(got, want) {
		t.Errorf("childEnv: %v, want %v", got, want)
	}
}
