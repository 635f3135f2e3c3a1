package socketact

import (
	"strings"
	"testing"
)

// TestManagerStoreName: a child's name goes to the service manager's store
// prefixed (FDPOLL=0 remembered by the prefix) and comes back as it was; a
// name too long once prefixed is refused, and other names are not ours.
func TestManagerStoreName(t *testing.T) {
	for _, poll := range []bool{true, false} {
		full, err := ManagerStoreName("state", poll)
		if err != nil {
			t.Fatal(err)
		}
		name, gotPoll, ok := parseManagerStoreName(full)
		if !ok || name != "state" || gotPoll != poll {
			t.Errorf("%q came back as %q poll=%v ok=%v, want state poll=%v", full, name, gotPoll, ok, poll)
		}
	}
	if _, err := ManagerStoreName(strings.Repeat("x", maxFDName-len(ManagerStorePrefix)+1), true); err == nil {
		t.Error("a name too long once prefixed was accepted")
	}
	for _, other := range []string{"web", "zedr-store.", "zedr-store", "unknown"} {
		if _, _, ok := parseManagerStoreName(other); ok {
			t.Errorf("%q taken for a stored descriptor", other)
		}
	}
}
