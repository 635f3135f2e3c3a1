package wrapper

import (
	"slices"
	"testing"
)

// TestParseCommand: words with no shell syntax and the JSON form run
// directly; anything the shell would interpret runs through the shell.
func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		argv []string // nil: through the shell
	}{
		{"/probe", []string{"/probe"}},
		{"  /probe  --fast http://127.0.0.1:8080/health?x", nil},
		{"/probe --fast http://127.0.0.1:8080/health", []string{"/probe", "--fast", "http://127.0.0.1:8080/health"}},
		{"curl -fs --url=http://[::1]:80/", nil},
		{"nginx -t -c /etc/nginx.conf", []string{"nginx", "-t", "-c", "/etc/nginx.conf"}},
		{`["/probe","--fast"]`, []string{"/probe", "--fast"}},
		{`["/my probe", "a b", "$HOME"]`, []string{"/my probe", "a b", "$HOME"}},
		{"test -f /tmp/ready && true", nil},
		{"curl -fs $URL", nil},
		{"echo 'hi'", nil},
		{"cat < /x", nil},
		{"ls ~/x", nil},
		{"FOO=1 /probe", nil},
		{"exit 0", nil},
		{"cd /srv", nil},
		{"/probe # comment", nil},
		{"sleep 1\n/probe", nil},
	} {
		c, err := ParseCommand(tc.in)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tc.in, err)
			continue
		}
		if !slices.Equal(c.Argv, tc.argv) || c.NeedsShell() != (tc.argv == nil) {
			t.Errorf("ParseCommand(%q) = %q (shell %v), want %q", tc.in, c.Argv, c.NeedsShell(), tc.argv)
		}
		if c.NeedsShell() && ShellSyntax(tc.in) == "" {
			t.Errorf("ParseCommand(%q) needs the shell but ShellSyntax names nothing", tc.in)
		}
	}
	for _, bad := range []string{"", "  ", "[", `["/probe",1]`, "[]", `[""]`} {
		if c, err := ParseCommand(bad); err == nil {
			t.Errorf("ParseCommand(%q) = %+v, want an error", bad, c)
		}
	}
}

// TestCommandPath: a command with no shell syntax runs its own program, a
// name looked up in PATH; one with runs the Shell.
func TestCommandPath(t *testing.T) {
	path, argv, err := commandPath("true --x")
	if err != nil || path == Shell || path == "" || !slices.Equal(argv, []string{"true", "--x"}) {
		t.Errorf("commandPath(true --x) = %q %q %v, want true from PATH", path, argv, err)
	}
	path, argv, err = commandPath("true | false")
	if err != nil || path != Shell || !slices.Equal(argv, []string{"sh", "-c", "true | false"}) {
		t.Errorf("commandPath(true | false) = %q %q %v, want the shell", path, argv, err)
	}
	if _, _, err := commandPath("/no/such/probe"); err == nil {
		t.Error("commandPath of a missing program: no error")
	}
}
