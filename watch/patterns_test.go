package watch

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Each test replaces a watched file the way some deployment does and checks the one Change.

func TestRenameOver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1, v2 := script(1), script(2)
	write(t, bin, v1)
	h := start(t, testSettle, bin)

	replace(t, bin, v2)
	c := h.one()
	wantChange(t, c, bin, v1, v2)
	if c.Resolved != bin {
		t.Errorf("Resolved = %q, want %q", c.Resolved, bin)
	}
}

func TestMoveFromOtherDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "app", "server")
	staged := filepath.Join(dir, "staging", "server")
	v1, v2 := script(1), script(2)
	write(t, bin, v1)
	write(t, staged, v2)
	h := start(t, testSettle, bin)

	if err := os.Rename(staged, bin); err != nil {
		t.Fatal(err)
	}
	wantChange(t, h.one(), bin, v1, v2)
}

func TestInstallCommand(t *testing.T) {
	t.Parallel()
	install, err := exec.LookPath("install")
	if err != nil {
		t.Skip("no install command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "server")
	src := filepath.Join(dir, "build", "server")
	v1, v2 := realELF(t), script(2)
	write(t, bin, v1)
	write(t, src, v2)
	h := start(t, testSettle, bin)

	if out, err := exec.Command(install, "-m", "0755", src, bin).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	wantChange(t, h.one(), bin, v1, v2)
}

// rsync writes a temporary ".name.XXXXXX" in the same directory, sets its mode and renames it over.
func TestRsyncStyle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1, v2 := script(1), realELF(t)
	write(t, bin, v1)
	h := start(t, testSettle, bin)

	tmp := filepath.Join(dir, ".server.Xa81Qz")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := range slices.Chunk(v2, len(v2)/4+1) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	wantChange(t, h.one(), bin, v1, v2)
}

func TestRewriteInPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1, v2 := script(1), script(2)
	write(t, bin, v1)
	h := start(t, testSettle, bin)

	write(t, bin, v2) // O_TRUNC, then write
	wantChange(t, h.one(), bin, v1, v2)
}

func TestUnlinkThenCreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1, v2 := script(1), script(2)
	write(t, bin, v1)
	h := start(t, testSettle, bin)

	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	write(t, bin, v2)
	c := h.one()
	// Had the file stayed missing for a settle time, the old content would be unknown.
	if c.OldHash == "" {
		wantChange(t, c, bin, nil, v2)
	} else {
		wantChange(t, c, bin, v1, v2)
	}
}

func TestDeletedNotReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1 := script(1)
	write(t, bin, v1)
	h := start(t, testSettle, bin)

	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	r := h.waitLog(slog.LevelWarn, "deleted and not replaced")
	if got := attr(r, "path"); got != bin {
		t.Errorf("warning path=%q, want %q", got, bin)
	}
	h.none()

	// Coming back, even with the same content, is a change: the file was missing.
	write(t, bin, v1)
	wantChange(t, h.one(), bin, nil, v1)
}

func TestTouchAndChmodAreNoChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1, v2 := script(1), script(2)
	write(t, bin, v1)
	h := start(t, testSettle, bin)

	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(bin, future, future); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, bin, v1) // rewritten with the same content
	replace(t, bin, v1)
	h.none()

	write(t, bin, v2)
	wantChange(t, h.one(), bin, v1, v2)
}

func TestBurstGivesOneChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1 := script(0)
	write(t, bin, v1)
	// The writes below take microseconds each; a generous settle keeps a loaded machine from
	// splitting the burst.
	h := start(t, 500*time.Millisecond, bin)

	var last []byte
	for i := 1; i <= 50; i++ {
		last = script(i)
		if i%2 == 0 {
			write(t, bin, last)
		} else {
			replace(t, bin, last)
		}
	}
	wantChange(t, h.one(), bin, v1, last)
}

// A binary written slowly, with pauses longer than the settle time, is reported once, complete:
// the ELF check holds it back between chunks.
func TestSlowELFWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1, v2 := script(1), realELF(t)
	write(t, bin, v1)
	h := start(t, testSettle, bin)

	writeSlowly(t, bin, v2, 8, 300*time.Millisecond) // 7 pauses: 2.1 s
	c := h.one()
	wantChange(t, c, bin, v1, v2)
	h.waitLog(slog.LevelInfo, "still being written") // it was seen incomplete, and waited
}

// A script (no ELF check) of 4 MiB written in chunks over 2 s is reported once, after the write.
func TestSlowScriptWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server.sh")
	v1 := script(1)
	v2 := append([]byte("#!/bin/sh\n"), bytes.Repeat([]byte("# padding.......\n"), 4<<20/17)...)
	write(t, bin, v1)
	h := start(t, DefaultSettle, bin)

	writeSlowly(t, bin, v2, 21, 100*time.Millisecond) // 20 pauses: 2 s
	wantChange(t, h.one(), bin, v1, v2)
}

// writeSlowly rewrites path in place with b, in n chunks with a pause after each but the last.
func writeSlowly(t *testing.T, path string, b []byte, n int, pause time.Duration) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := (len(b) + n - 1) / n
	for i := 0; i < len(b); i += size {
		if i > 0 {
			time.Sleep(pause) // simulating a slow writer
		}
		if _, err := f.Write(b[i:min(i+size, len(b))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTruncatedELFIsNoChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	v1, v2 := script(1), realELF(t)
	write(t, bin, v1)
	h := start(t, testSettle, bin)

	replace(t, bin, v2[:len(v2)*2/3])
	h.waitLog(slog.LevelInfo, "still being written")
	h.none()

	replace(t, bin, v2)
	wantChange(t, h.one(), bin, v1, v2)
}

func TestSymlinkFlipOfFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	link := filepath.Join(dir, "server")
	v1, v2 := script(1), script(2)
	write(t, filepath.Join(dir, "server-v1"), v1)
	write(t, filepath.Join(dir, "server-v2"), v2)
	write(t, filepath.Join(dir, "server-v3"), v2)
	if err := os.Symlink("server-v1", link); err != nil {
		t.Fatal(err)
	}
	h := start(t, testSettle, link)

	flip(t, "server-v2", link)
	c := h.one()
	wantChange(t, c, link, v1, v2)
	if want := filepath.Join(dir, "server-v2"); c.Resolved != want {
		t.Errorf("Resolved = %q, want %q", c.Resolved, want)
	}

	flip(t, "server-v3", link) // same content: no change
	h.none()

	// The link now leads to server-v3, whose rewrite counts, and server-v1 no longer matters.
	v3 := script(3)
	write(t, filepath.Join(dir, "server-v1"), script(9))
	write(t, filepath.Join(dir, "server-v3"), v3)
	wantChange(t, h.one(), link, v2, v3)
}

// ln -sfn releases/v2 current, with the watched path going through current.
func TestSymlinkFlipOfDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "current", "bin", "server")
	v1, v2 := script(1), script(2)
	write(t, filepath.Join(dir, "releases", "v1", "bin", "server"), v1)
	write(t, filepath.Join(dir, "releases", "v2", "bin", "server"), v2)
	if err := os.Symlink(filepath.Join("releases", "v1"), filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	h := start(t, testSettle, bin)

	if ln, err := exec.LookPath("ln"); err == nil {
		cmd := exec.Command(ln, "-sfn", filepath.Join("releases", "v2"), "current")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ln -sfn: %v\n%s", err, out)
		}
	} else {
		flip(t, filepath.Join("releases", "v2"), filepath.Join(dir, "current"))
	}
	c := h.one()
	wantChange(t, c, bin, v1, v2)
	if want := filepath.Join(dir, "releases", "v2", "bin", "server"); c.Resolved != want {
		t.Errorf("Resolved = %q, want %q", c.Resolved, want)
	}

	// The watches followed the flip: v2 counts, v1 does not.
	write(t, filepath.Join(dir, "releases", "v1", "bin", "server"), script(7))
	h.none()
	v3 := script(3)
	replace(t, filepath.Join(dir, "releases", "v2", "bin", "server"), v3)
	wantChange(t, h.one(), bin, v2, v3)
}

// A chain of symlinks through several directories: flipping the middle link counts.
func TestSymlinkChain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "a", "server")
	v1, v2 := script(1), script(2)
	write(t, filepath.Join(dir, "c", "server-v1"), v1)
	write(t, filepath.Join(dir, "d", "server-v2"), v2)
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join("..", "b", "server"), bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "c", "server-v1"), filepath.Join(dir, "b", "server")); err != nil {
		t.Fatal(err)
	}
	h := start(t, testSettle, bin)

	flip(t, filepath.Join("..", "d", "server-v2"), filepath.Join(dir, "b", "server"))
	c := h.one()
	wantChange(t, c, bin, v1, v2)
	if want := filepath.Join(dir, "d", "server-v2"); c.Resolved != want {
		t.Errorf("Resolved = %q, want %q", c.Resolved, want)
	}
}

// The directory holding the binary is replaced: renamed away, and a new one renamed in.
func TestDirectoryReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	bin := filepath.Join(app, "server")
	v1, v2 := script(1), script(2)
	write(t, bin, v1)
	write(t, filepath.Join(dir, "app.new", "server"), v2)
	h := start(t, testSettle, bin)

	if err := os.Rename(app, filepath.Join(dir, "app.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "app.new"), app); err != nil {
		t.Fatal(err)
	}
	wantChange(t, h.one(), bin, v1, v2)

	// The new directory is watched, the old one no more.
	write(t, filepath.Join(dir, "app.old", "server"), script(8))
	h.none()
	v3 := script(3)
	replace(t, bin, v3)
	wantChange(t, h.one(), bin, v2, v3)
}

func TestWatchDirectory(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "conf.d")
	a1, a2, b1 := []byte("a = 1\n"), []byte("a = 2\n"), []byte("b = 1\n")
	write(t, filepath.Join(conf, "a.conf"), a1)
	h := start(t, testSettle, conf)

	replace(t, filepath.Join(conf, "a.conf"), a2)
	c := h.one()
	wantChange(t, c, conf, a1, a2)
	if len(c.Files) != 1 || c.Files[0] != "a.conf" || c.Resolved != filepath.Join(conf, "a.conf") {
		t.Errorf("Files = %q, Resolved = %q; want [a.conf], %s/a.conf", c.Files, c.Resolved, conf)
	}

	write(t, filepath.Join(conf, ".a.conf.swp"), []byte("editor junk"))
	if err := os.Mkdir(filepath.Join(conf, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.none()

	write(t, filepath.Join(conf, "b.conf"), b1)
	c = h.one()
	wantChange(t, c, conf, nil, b1)

	if err := os.Remove(filepath.Join(conf, "b.conf")); err != nil {
		t.Fatal(err)
	}
	c = h.one()
	if c.Files[0] != "b.conf" || c.NewHash != "" || c.NewSize != -1 || c.OldHash != hash12(b1) {
		t.Errorf("removal: got %v", c)
	}
}

func TestSeveralPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin, extra := filepath.Join(dir, "bin", "server"), filepath.Join(dir, "etc", "server.conf")
	v1, v2, e1, e2 := script(1), script(2), []byte("x=1\n"), []byte("x=2\n")
	write(t, bin, v1)
	write(t, extra, e1)
	h := start(t, testSettle, bin, extra)

	replace(t, extra, e2)
	wantChange(t, h.one(), extra, e1, e2)
	replace(t, bin, v2)
	wantChange(t, h.one(), bin, v1, v2)
}

// Not parallel: it changes the working directory.
func TestRelativePath(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := script(1), script(2)
	write(t, filepath.Join(dir, "server"), v1)
	t.Chdir(dir)
	h := start(t, testSettle, "server")

	replace(t, filepath.Join(dir, "server"), v2)
	c := h.one()
	wantChange(t, c, "server", v1, v2)
	if want := filepath.Join(dir, "server"); c.Resolved != want {
		t.Errorf("Resolved = %q, want %q", c.Resolved, want)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := New(Options{Paths: []string{filepath.Join(dir, "missing", "server")}}); err == nil {
		t.Error("New with a missing directory: no error")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New with no paths: no error")
	}
	// A missing file in an existing directory is fine: it counts once it appears.
	bin := filepath.Join(dir, "server")
	h := start(t, testSettle, bin)
	v1 := script(1)
	replace(t, bin, v1)
	wantChange(t, h.one(), bin, nil, v1)
}

// Not parallel, so that no other test's inotify descriptor comes or goes meanwhile.
func TestRunClosesFsnotify(t *testing.T) {
	before := countInotifyFDs(t)
	w, err := New(Options{Paths: []string{filepath.Join(t.TempDir(), "server")}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if got := countInotifyFDs(t); got != before+1 {
		t.Fatalf("after New: %d inotify descriptors, want %d", got, before+1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx, make(chan Change)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := countInotifyFDs(t); got != before {
		t.Fatalf("after Run: %d inotify descriptors, want %d", got, before)
	}
	if err := w.Run(ctx, make(chan Change)); err == nil {
		t.Error("second Run: no error")
	}

	// Close releases a Watcher that never runs.
	w, err = New(Options{Paths: []string{filepath.Join(t.TempDir(), "server")}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := countInotifyFDs(t); got != before {
		t.Fatalf("after Close: %d inotify descriptors, want %d", got, before)
	}
}

func countInotifyFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range entries {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); target == "anon_inode:inotify" {
			n++
		}
	}
	return n
}

func TestChangeString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    Change
		want string
	}{
		{Change{Path: "/srv/app/server", OldSize: 1843200, NewSize: 1843264, OldHash: "3fa2c9e1b0d4", NewHash: "9be01c77a2f5"},
			"/srv/app/server changed: size 1843200 -> 1843264, sha256 3fa2c9e1b0d4 -> 9be01c77a2f5"},
		{Change{Path: "server", OldSize: -1, NewSize: 10, NewHash: "9be01c77a2f5"},
			"server changed: size none -> 10, sha256 none -> 9be01c77a2f5"},
		{Change{Path: "conf.d", OldSize: 3, NewSize: 4, OldHash: "aaaaaaaaaaaa", NewHash: "bbbbbbbbbbbb", Files: []string{"a.conf", "b.conf"}},
			"conf.d (a.conf, b.conf) changed: size 3 -> 4, sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
