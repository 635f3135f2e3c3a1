package control

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestDirs(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	tmp := filepath.Join(os.TempDir(), "zedr-run-"+strconv.Itoa(os.Getuid()))
	if got, want := Dirs(), []string{"/run/user/1000/zedr-run", "/run/zedr-run", tmp}; !equal(got, want) {
		t.Errorf("Dirs() = %q, want %q", got, want)
	}
	t.Setenv("XDG_RUNTIME_DIR", "relative")
	if got, want := Dirs(), []string{"/run/zedr-run", tmp}; !equal(got, want) {
		t.Errorf("Dirs() with a relative XDG_RUNTIME_DIR = %q, want %q", got, want)
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestPathFor(t *testing.T) {
	base := shortDir(t)
	fresh := filepath.Join(base, "fresh")
	path, swept, err := pathIn([]string{fresh}, 42)
	if err != nil || path != filepath.Join(fresh, "42.sock") || swept != 0 {
		t.Fatalf("pathIn: %q, %d, %v", path, swept, err)
	}
	if fi, err := os.Lstat(fresh); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("created directory: %v, %v; want a directory of mode 0700", fi.Mode(), err)
	}

	// Directories that will not do are passed over, each said why.
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	link := filepath.Join(base, "link")
	if err := os.Symlink(fresh, link); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(base, "no", "such")
	path, _, err = pathIn([]string{missing, file, link, fresh}, 42)
	if err != nil || path != filepath.Join(fresh, "42.sock") {
		t.Errorf("pathIn past unusable directories: %q, %v", path, err)
	}
	_, _, err = pathIn([]string{missing, file, link}, 42)
	if err == nil {
		t.Fatal("pathIn with no usable directory: no error")
	}
	for _, want := range []string{"no directory for the control socket: ", missing, file + ": not a directory", link + ": not a directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// Under os.TempDir(), where anyone may create a directory first, the
// directory must be ours.
func TestPathForForeignTempDir(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	dir, err := os.MkdirTemp("", "zedr-run-foreign")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if !strings.HasPrefix(dir, os.TempDir()) {
		t.Skipf("%s is not under %s", dir, os.TempDir())
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	_, _, err = pathIn([]string{dir}, 42)
	if want := dir + ": belongs to uid 65534, not to us"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("pathIn in another user's directory: %v, want %q", err, want)
	}
}

// PathFor removes the stale control sockets of dead zedr-run processes,
// and nothing else.
func TestPathForSweeps(t *testing.T) {
	dir := shortDir(t)
	stale := filepath.Join(dir, strconv.Itoa(noPID)+".sock")
	staleAt(t, stale)
	keep := map[string]string{}
	// Its process runs (this one), although nobody listens.
	keep["alive"] = filepath.Join(dir, strconv.Itoa(os.Getpid())+".sock")
	staleAt(t, keep["alive"])
	// No such process, but something listens there.
	keep["listening"] = listenAt(t, dir, noPID-1)
	// Not a socket.
	keep["file"] = filepath.Join(dir, strconv.Itoa(noPID-2)+".sock")
	os.WriteFile(keep["file"], nil, 0o600)
	// Not named PID.sock.
	keep["name"] = filepath.Join(dir, "other.sock")
	staleAt(t, keep["name"])
	// A symbolic link to a stale socket elsewhere.
	target := filepath.Join(shortDir(t), "target.sock")
	staleAt(t, target)
	keep["link"] = filepath.Join(dir, strconv.Itoa(noPID-3)+".sock")
	os.Symlink(target, keep["link"])

	_, swept, err := pathIn([]string{dir}, 1)
	if err != nil || swept != 1 {
		t.Errorf("pathIn: swept %d, %v; want 1", swept, err)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Errorf("stale socket %s left", stale)
	}
	for what, path := range keep {
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("%s (%s) removed: %v", path, what, err)
		}
	}
	if _, err := os.Lstat(target); err != nil {
		t.Errorf("the symbolic link's target was removed: %v", err)
	}
	// Nothing else left behind in the directory (sockfile's own).
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(keep) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only the %d kept", names, len(keep))
	}
}
