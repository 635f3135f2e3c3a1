//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"

	"zedr-run/internal/contain"
)

// declaredControl reads, from /proc, the control socket path that zedr-run
// pid was started with (--control PATH, or ZEDR_CONTROL in its
// environment), or "". It is for control.Find, which checks that the path
// is pid's live socket: only main knows zedr-run's flags.
func declaredControl(pid int) string {
	var path string
	if env, err := contain.Environ(pid); err == nil {
		path, _ = contain.Getenv(env, "ZEDR_CONTROL")
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		for i := 1; i < len(args) && args[i] != "--"; i++ {
			a := strings.TrimPrefix(args[i], "-")
			if v, ok := strings.CutPrefix(a, "-control="); ok {
				path = v
			} else if (a == "-control" || a == "control") && i+1 < len(args) {
				path = args[i+1]
			}
		}
	}
	return path
}
