package reexec

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"zedr-run/internal/sockfile"
)

// TestGuardianFileLines reads the golden guardian input: the "@PATH" lines
// of zedr-run before dev/ino were recorded still read, as paths without an
// inode; the current lines read with theirs; other lines are not files.
func TestGuardianFileLines(t *testing.T) {
	f, err := os.Open("testdata/guardian-lines.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []guardFile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if g, ok := parseFileLine(strings.TrimSpace(sc.Text())); ok {
			got = append(got, g)
		}
	}
	want := []guardFile{
		{path: "/run/old-format/app.sock", old: true},
		{path: "/run/app.sock", id: sockfile.ID{Dev: 2049, Ino: 1234567}},
		{path: "/tmp/with space\nand newline.sock", id: sockfile.ID{Dev: 64769, Ino: 18446744073709551615}},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d file lines, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestFileLineRoundTrip(t *testing.T) {
	for _, path := range []string{"/run/app.sock", "rel/a b.sock", "/tmp/x\n+1\n.sock", `/tmp/"quoted".sock`} {
		line := fileLine(7, 9, path)
		if strings.Contains(line, "\n") {
			t.Errorf("fileLine(%q) spans lines: %q", path, line)
		}
		g, ok := parseFileLine(line)
		if !ok || g != (guardFile{path: path, id: sockfile.ID{Dev: 7, Ino: 9}}) {
			t.Errorf("parseFileLine(fileLine(%q)) = %+v, %v", path, g, ok)
		}
	}
	for _, bad := range []string{"+12", "-12", "exit", "socket-file dev=1 ino=2", "socket-file dev=x ino=2 path=\"/a\"", "socket-file dev=1 ino=2 path=/unquoted", "@"} {
		if g, ok := parseFileLine(bad); ok {
			t.Errorf("parseFileLine(%q) = %+v, want no file", bad, g)
		}
	}
}
