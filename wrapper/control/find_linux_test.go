package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// noPID is above any pid_max: kill(noPID, 0) is ESRCH.
const noPID = 999999999

// listenAt serves a unix socket at dir/PID.sock until the test ends.
func listenAt(t *testing.T, dir string, pid int) string {
	t.Helper()
	path := filepath.Join(dir, strconv.Itoa(pid)+".sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return path
}

// staleAt leaves a socket file at path that nobody listens on.
func staleAt(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
}

func TestFindNone(t *testing.T) {
	a, b := shortDir(t), shortDir(t)
	staleAt(t, filepath.Join(a, strconv.Itoa(os.Getpid())+".sock")) // its process runs, nobody listens
	listenAt(t, b, noPID)                                           // listens, no such process
	os.WriteFile(filepath.Join(b, "notapid.sock"), nil, 0o600)
	_, err := findIn([]string{a, b}, 0, nil)
	want := fmt.Sprintf("no running zedr-run of uid %d found (looked in %s, %s)", os.Getuid(), a, b)
	if !errors.Is(err, ErrNoneRunning) || err.Error() != want {
		t.Errorf("Find: %v, want %q matching ErrNoneRunning", err, want)
	}
}

func TestFindOne(t *testing.T) {
	a, b := shortDir(t), shortDir(t)
	path := listenAt(t, b, os.Getpid())
	got, err := findIn([]string{a, b}, 0, nil)
	if err != nil || got != path {
		t.Errorf("Find: %q, %v; want %q", got, err, path)
	}
	// The same pid in two directories is one instance, the first found.
	first := listenAt(t, a, os.Getpid())
	if got, err := findIn([]string{a, b}, 0, nil); err != nil || got != first {
		t.Errorf("Find with the pid in both directories: %q, %v; want %q", got, err, first)
	}
}

func TestFindSeveral(t *testing.T) {
	a, b := shortDir(t), shortDir(t)
	p1, p2 := os.Getppid(), os.Getpid()
	if p1 > p2 {
		p1, p2 = p2, p1
	}
	path1 := listenAt(t, b, p1)
	path2 := listenAt(t, a, p2)
	_, err := findIn([]string{a, b}, 0, nil)
	want := fmt.Sprintf("2 zedr-run instances of uid %d are running: pid=%d (%s), pid=%d (%s)", os.Getuid(), p1, path1, p2, path2)
	if !errors.Is(err, ErrSeveral) || err.Error() != want {
		t.Errorf("Find: %v\nwant %q matching ErrSeveral", err, want)
	}
}

func TestFindPID(t *testing.T) {
	a, b := shortDir(t), shortDir(t)
	me := os.Getpid()
	t.Run("in a directory", func(t *testing.T) {
		path := listenAt(t, b, me)
		if got, err := findIn([]string{a, b}, me, nil); err != nil || got != path {
			t.Errorf("Find(%d): %q, %v; want %q", me, got, err, path)
		}
	})
	t.Run("no process", func(t *testing.T) {
		_, err := findIn([]string{a, b}, noPID, nil)
		if want := fmt.Sprintf("no process pid=%d", noPID); !errors.Is(err, ErrNoProcess) || err.Error() != want {
			t.Errorf("Find(%d): %v, want %q matching ErrNoProcess", noPID, err, want)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := findIn([]string{a, b}, me, func(int) string { return "" })
		want := fmt.Sprintf("no control socket of pid=%d in %s, %s: is it a zedr-run?", me, a, b)
		if !errors.Is(err, ErrNotFound) || err.Error() != want {
			t.Errorf("Find(%d): %v, want %q matching ErrNotFound", me, err, want)
		}
	})
	t.Run("declared", func(t *testing.T) {
		elsewhere := shortDir(t)
		path := filepath.Join(elsewhere, "ctl.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var asked int
		declared := func(pid int) string { asked = pid; return path }
		if got, err := findIn([]string{a, b}, me, declared); err != nil || got != path || asked != me {
			t.Errorf("Find(%d) with %s declared: %q, %v (declared asked for %d)", me, path, got, err, asked)
		}
		// A relative path is the process's: from its working directory.
		t.Chdir(elsewhere)
		if got, err := findIn([]string{a, b}, me, func(int) string { return "ctl.sock" }); err != nil || got != path {
			t.Errorf("Find(%d) with ctl.sock declared in %s: %q, %v", me, elsewhere, got, err)
		}
		// A declared path nobody listens on is not it.
		if _, err := findIn([]string{a, b}, me, func(int) string { return filepath.Join(elsewhere, "none.sock") }); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find(%d) with a dead path declared: %v, want ErrNotFound", me, err)
		}
	})
}
