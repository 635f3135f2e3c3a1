package reexec

import (
	"strconv"
	"testing"
)

// TestSelfTest: a binary passes the self-test for the handoff versions it
// reads, its own (SelfTestArgs) included, and fails it for later ones.
func TestSelfTest(t *testing.T) {
	args := SelfTestArgs()
	if args[0] != SelfTestName {
		t.Fatalf("SelfTestArgs() = %q, want %s first", args, SelfTestName)
	}
	if code := selfTest(args[1:]); code != 0 {
		t.Errorf("self-test %q: exit %d, want 0", args[1:], code)
	}
	for _, bad := range [][]string{{strconv.Itoa(HandoffVersion + 1)}, {"0"}, {"two"}, {}} {
		if code := selfTest(bad); code == 0 {
			t.Errorf("self-test %q: exit 0, want a failure", bad)
		}
	}
}
