package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestShellJoin: the command lines the table prints run as printed: a
// shell splits them back into the same arguments.
func TestShellJoin(t *testing.T) {
	args := []string{"--hook-master-start", "unix_signal:15 gracefully_kill_them_all", "--pid-file=", "it's", "", "a$b", "127.0.0.1:80"}
	out, err := exec.Command("sh", "-c", "set -- "+shellJoin(args)+`; for a in "$@"; do printf '%s\n' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if !slices.Equal(got, args) {
		t.Errorf("sh splits %s into %q, want %q", shellJoin(args), got, args)
	}
}
