package wrapper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Commands zedr-run runs itself (an exec: readiness probe, --check) need no
// shell when they need none: a command with no shell syntax is split into
// words and run directly, and so is one given as a JSON array of strings
// (exec:["/probe","--fast"], as a Dockerfile's exec form). Only a command
// with shell syntax runs as `/bin/sh -c COMMAND`, so that a scratch or
// distroless image with no shell can still have probes.

// Shell runs the commands that have shell syntax.
const Shell = "/bin/sh"

// shellChars make a command need the shell anywhere in it: quoting,
// expansion, redirection, pipes, lists, subshells, globs.
const shellChars = "|&;<>()$`\\\"'*?[]{}\n"

// shellWords as a command's first word are the shell's own: reserved words
// and builtins with no program of that name to run.
var shellWords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "case": true, "esac": true,
	"for": true, "while": true, "until": true, "do": true, "done": true, "!": true,
	"cd": true, "exit": true, "export": true, "set": true, "unset": true, ".": true, "source": true,
	"eval": true, "exec": true, "trap": true, "wait": true, "read": true, "shift": true,
	"return": true, "break": true, "continue": true, "alias": true, "ulimit": true, "umask": true,
	"type": true, "command": true, "readonly": true, "local": true, "times": true,
}

// Command is a command zedr-run runs: either Argv directly, or Text through
// the Shell.
type Command struct {
	Text string   // as given
	Argv []string // the words to run, when it needs no shell
}

// ParseCommand reads a command: a JSON array of strings (the exec form),
// words with no shell syntax, or else a shell command.
func ParseCommand(s string) (Command, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Command{}, errors.New("empty command")
	}
	if strings.HasPrefix(t, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(t), &argv); err != nil {
			return Command{}, fmt.Errorf("a command starting with [ is a JSON array of strings, as [\"/probe\",\"--fast\"]: %w", err)
		}
		if len(argv) == 0 || argv[0] == "" {
			return Command{}, errors.New("empty JSON array: no program to run")
		}
		return Command{Text: s, Argv: argv}, nil
	}
	if syntax := ShellSyntax(t); syntax != "" {
		return Command{Text: s}, nil
	}
	return Command{Text: s, Argv: strings.Fields(t)}, nil
}

// ShellSyntax says what in s, a command not in the JSON form, needs a
// shell ("" if nothing does): a character such as | or $, a leading ~ or
// # of a word, an assignment or a shell builtin as the first word.
func ShellSyntax(s string) string {
	if i := strings.IndexAny(s, shellChars); i >= 0 {
		return fmt.Sprintf("%q", s[i])
	}
	words := strings.Fields(s)
	for _, w := range words {
		if strings.HasPrefix(w, "~") || strings.HasPrefix(w, "#") {
			return fmt.Sprintf("%q at the start of %q", w[0], w)
		}
	}
	if len(words) > 0 {
		if strings.Contains(words[0], "=") {
			return fmt.Sprintf("the assignment %q", words[0])
		}
		if shellWords[words[0]] {
			return fmt.Sprintf("the shell's own %q", words[0])
		}
	}
	return ""
}

// NeedsShell says whether c runs through the Shell.
func (c Command) NeedsShell() bool { return c.Argv == nil }

// path is the program to run for c and its argv: the Shell, or Argv[0]
// looked up in PATH (a name with a slash is taken as it is).
func (c Command) path() (string, []string, error) {
	if c.NeedsShell() {
		return Shell, []string{"sh", "-c", c.Text}, nil
	}
	p, err := exec.LookPath(c.Argv[0])
	if err != nil && !errors.Is(err, exec.ErrDot) {
		return "", nil, err
	}
	return p, c.Argv, nil
}

// commandPath is path for the command text s, already checked by the
// caller at start.
func commandPath(s string) (string, []string, error) {
	c, err := ParseCommand(s)
	if err != nil {
		return "", nil, err
	}
	return c.path()
}
