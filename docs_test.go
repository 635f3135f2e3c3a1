//go:build linux

package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"zedr-run/internal/logbuf"
)

// runDoc runs zedr-run's command line in-process with args and returns the
// exit code, stdout and stderr.
func runDoc(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	logs := logbuf.New(io.Discard, logbuf.DefaultSize)
	defer logs.Close(time.Second)
	var out, errs strings.Builder
	err := runWith(context.Background(), append([]string{"zedr-run"}, args...), &out, &errs, logs)
	return exitCodeOf(&errs, err), out.String(), errs.String()
}

// TestManPage: `zedr-run manpage` is the roff page of section 1, generated
// from the command line itself: every option --help shows and every
// command is in it.
func TestManPage(t *testing.T) {
	code, page, stderr := runDoc(t, "manpage")
	if code != 0 {
		t.Fatalf("zedr-run manpage: exit %d: %s", code, stderr)
	}
	if !strings.Contains(page, ".TH zedr-run 1") {
		t.Errorf("no .TH zedr-run 1 header:\n%.300s", page)
	}
	app := newApp(io.Discard, nil)
	var want []string
	for _, f := range app.Flags {
		want = append(want, "--"+f.Names()[0])
	}
	for _, c := range allCommands(io.Discard) {
		want = append(want, c.Name)
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("the man page does not mention %q", w)
		}
	}
	if code, _, stderr := runDoc(t, "manpage", "extra"); code != 2 {
		t.Errorf("zedr-run manpage extra: exit %d, want 2: %s", code, stderr)
	}
}

// TestCompletionCommand: `zedr-run completion bash` prints the script;
// any other shell is a usage error.
func TestCompletionCommand(t *testing.T) {
	code, script, stderr := runDoc(t, "completion", "bash")
	if code != 0 || !strings.Contains(script, "complete -o bashdefault -o default -F _zedr_run zedr-run") {
		t.Fatalf("zedr-run completion bash: exit %d, stderr %q, script:\n%s", code, stderr, script)
	}
	for _, args := range [][]string{{"completion"}, {"completion", "zsh"}, {"completion", "bash", "fish"}} {
		if code, _, stderr := runDoc(t, args...); code != 2 || !strings.Contains(stderr, "want bash") {
			t.Errorf("zedr-run %s: exit %d, stderr %q; want 2 and 'want bash'", strings.Join(args, " "), code, stderr)
		}
	}
	if code, help := runCLI(t, "--help"); code != 0 || !strings.Contains(help, "zedr-run completion bash | manpage") {
		t.Errorf("--help (exit %d) does not show the completion and manpage commands:\n%s", code, help)
	}
	// "completion" and "manpage" are commands only as the first argument.
	if got := commandsFor([]string{"zedr-run", "--listen", "tcp::0", "manpage"}, io.Discard); got != nil {
		t.Errorf("manpage after an option is a command: %v", got)
	}
}
