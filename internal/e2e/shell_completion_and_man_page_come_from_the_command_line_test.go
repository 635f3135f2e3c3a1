package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Guarantee: Shell completion and the man page come from the command line's own definition, installed by one documented command each.

// TestBashCompletion installs the script as the README says (its output
// in a completions directory), sources it in a real bash with the real
// binary on PATH, and completes what a user types.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	dir := t.TempDir()
	script, err := execZedr("completion", "bash").Output()
	if err != nil {
		t.Fatalf("zedr-run completion bash: %v", err)
	}
	path := filepath.Join(dir, "zedr-run")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "child-ran")
	for _, tc := range []struct {
		line     string
		want     []string // each among the candidates
		wantNone bool     // no candidate at all
	}{
		{line: "zedr-run --lis", want: []string{"--listen"}},
		{line: "zedr-run --", want: []string{"--listen", "--http", "--stop-delay", "--map-signal", "--version"}},
		{line: "zedr-run --listen tcp::8080 --sto", want: []string{"--stop-signal", "--stop-timeout", "--stop-delay"}},
		{line: "zedr-run ", want: []string{"status", "restart", "stop", "reexec", "completion", "manpage"}},
		{line: "zedr-run st", want: []string{"status", "stop"}},
		{line: "zedr-run status --", want: []string{"--json", "--pid", "--control"}},
		// After "--" the words are the command's: zedr-run offers nothing
		// (bash falls back to file names) and runs nothing.
		{line: "zedr-run --listen tcp::0 -- /bin/touch " + marker + " --", wantNone: true},
	} {
		words := strings.Fields(tc.line)
		if strings.HasSuffix(tc.line, " ") {
			words = append(words, "")
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source " + path + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _zedr_run; printf '%s\\n' \"${COMPREPLY[@]}\""
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin("zedr-run"))+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: bash: %v\n%s", tc.line, err, out)
		}
		got := strings.Fields(string(out))
		t.Logf("%q<TAB> -> %v", tc.line, got)
		if tc.wantNone && len(got) != 0 {
			t.Errorf("%q: candidates %v, want none", tc.line, got)
		}
		for _, w := range tc.want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("%q: %q is not among the candidates %v", tc.line, w, got)
			}
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("completing after -- ran the command")
	}
}

// TestManPageInstalled installs the man page as the README says and reads
// it with man(1): it renders, with the options of --help in it.
func TestManPageInstalled(t *testing.T) {
	man, err := exec.LookPath("man")
	if err != nil {
		t.Skip("man is not installed")
	}
	dir := t.TempDir()
	page, err := execZedr("manpage").Output()
	if err != nil {
		t.Fatalf("zedr-run manpage: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "man1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "man1", "zedr-run.1"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(man, "zedr-run")
	cmd.Env = append(os.Environ(), "MANPATH="+dir, "MANPAGER=cat", "PAGER=cat", "MANWIDTH=100", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("man zedr-run: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"zedr-run(1)", "NAME", "restart network services with zero downtime", "--listen", "--http", "--stop-delay", "status", "manpage"} {
		if !strings.Contains(text, want) {
			t.Errorf("man zedr-run does not show %q", want)
		}
	}
	t.Logf("man zedr-run: %d lines", strings.Count(text, "\n"))
}
