package reexec

import (
	"fmt"
	"os"
	"strconv"
)

// SelfTestName is argv[0] of a new zedr-run binary run as a pre-flight
// check before `zedr-run reexec` execs it in place: it exits 0 only if it
// starts at all and can read a handoff of the version it is given.
const SelfTestName = "zedr-run-selftest"

// SelfTestArgs is the argv that runs a new binary (as its path) as the
// self-test: it is asked whether it reads a handoff of this binary's
// version.
func SelfTestArgs() []string { return []string{SelfTestName, strconv.Itoa(HandoffVersion)} }

func selfTest(args []string) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "%s: want the handoff version\n", SelfTestName)
		return 2
	}
	v, err := strconv.Atoi(args[0])
	if err != nil || v < 1 || v > HandoffVersion {
		fmt.Fprintf(os.Stderr, "%s: cannot read a handoff of version %q (this binary reads 1 to %d)\n", SelfTestName, args[0], HandoffVersion)
		return 1
	}
	return 0
}
