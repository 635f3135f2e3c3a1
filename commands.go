//go:build linux

package main

import (
	"os"

	"zedr-run/wrapper"
)

// checkCommands refuses, as a usage error, a --check or --ready exec:
// command that is not a command, or that needs a shell where there is none
// (a scratch or distroless image): better now than a probe that fails
// forever or a restart that is always refused.
func checkCommands(ready wrapper.Readiness, check string) error {
	var cmds []struct{ option, value, text string }
	if ready.Kind == wrapper.ReadyExec {
		cmds = append(cmds, struct{ option, value, text string }{"--ready", ready.String(), ready.Command})
	}
	if check != "" {
		cmds = append(cmds, struct{ option, value, text string }{"--check", check, check})
	}
	for _, c := range cmds {
		cmd, err := wrapper.ParseCommand(c.text)
		if err != nil {
			return usagef("bad %s %q: %w", c.option, c.value, err)
		}
		if !cmd.NeedsShell() {
			continue
		}
		if _, err := os.Stat(wrapper.Shell); err != nil {
			return usagef("bad %s %q: its %s is shell syntax, and there is no shell to run it (%v); give a program and its arguments with no shell syntax, or as a JSON array such as [\"/probe\",\"--fast\"]",
				c.option, c.value, wrapper.ShellSyntax(c.text), err)
		}
	}
	return nil
}
