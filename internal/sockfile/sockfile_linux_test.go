package sockfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func bindAt(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	return fd
}

func lstat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDiagNamesTheBoundFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	fd := bindAt(t, path)
	var sock unix.Stat_t
	if err := unix.Fstat(fd, &sock); err != nil {
		t.Fatal(err)
	}
	dev, ino, err := boundTo(sock.Ino)
	if errors.Is(err, errNoDiag) {
		t.Skipf("this kernel cannot answer: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	st := lstat(t, path)
	if !sameFile(&st, dev, ino) {
		t.Fatalf("sock_diag says dev %#x ino %d; the file is dev %#x ino %d", dev, ino, st.Dev, st.Ino)
	}
}

func TestBoundRefusesAnotherFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	fd := bindAt(t, path)
	f, st, err := Bound(fd, path)
	if err != nil {
		t.Fatalf("Bound on the socket's own file: %v", err)
	}
	f.Close()
	if want := lstat(t, path); Of(&st) != Of(&want) {
		t.Fatalf("Bound returned %v, the file is %v", Of(&st), Of(&want))
	}

	// Another socket, then a symbolic link, in its place.
	os.Rename(path, filepath.Join(dir, "moved.sock"))
	bindAt(t, path)
	if _, _, err := Bound(fd, path); !errors.Is(err, ErrReplaced) {
		t.Errorf("Bound with another socket at the path: %v, want ErrReplaced", err)
	}
	os.Remove(path)
	os.Symlink(filepath.Join(dir, "moved.sock"), path)
	if _, _, err := Bound(fd, path); !errors.Is(err, ErrReplaced) {
		t.Errorf("Bound with a symlink to the socket at the path: %v, want ErrReplaced", err)
	}
}

func TestBindPerm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	if err := BindPerm(fd, &unix.SockaddrUnix{Name: path}, 0o666); err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, path); st.Mode&0o777 != 0o666 {
		t.Errorf("mode %#o, want 0666", st.Mode&0o777)
	}
	if now := unix.Umask(0o022); now != 0o022 {
		t.Errorf("BindPerm changed the process umask to %#o", now)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	entries := func() int {
		e, _ := os.ReadDir(dir)
		return len(e)
	}

	// Nothing there.
	if removed, err := Remove(path, func(*unix.Stat_t, string) bool { return true }); removed || err != nil {
		t.Errorf("Remove of nothing: %v, %v", removed, err)
	}
	// A regular file, a symbolic link: never removed, never shown.
	for _, mk := range []func() error{
		func() error { return os.WriteFile(path, []byte("keep"), 0o600) },
		func() error { return os.Symlink("/etc/passwd", path) },
	} {
		if err := mk(); err != nil {
			t.Fatal(err)
		}
		removed, err := Remove(path, func(*unix.Stat_t, string) bool {
			t.Error("Remove asked about a file that is not a socket")
			return true
		})
		if removed || err != nil {
			t.Errorf("Remove of a non-socket: %v, %v", removed, err)
		}
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("the non-socket is gone: %v", err)
		}
		os.Remove(path)
	}
	// A socket that remove refuses goes back, the same inode.
	bindAt(t, path)
	before := lstat(t, path)
	if removed, err := Remove(path, func(st *unix.Stat_t, at string) bool {
		if Of(st) != Of(&before) {
			t.Errorf("shown %v, want the socket %v", Of(st), Of(&before))
		}
		if _, err := os.Lstat(at); err != nil {
			t.Errorf("the connect path %s: %v", at, err)
		}
		return false
	}); removed || err != nil {
		t.Errorf("refused Remove: %v, %v", removed, err)
	}
	if after := lstat(t, path); Of(&after) != Of(&before) {
		t.Errorf("after a refused Remove the path holds %v, want %v", Of(&after), Of(&before))
	}
	if n := entries(); n != 1 {
		t.Errorf("%d entries in the directory after a refused Remove, want 1 (no private directory left)", n)
	}
	// An approved one is gone, with the private directory.
	if removed, err := Remove(path, func(*unix.Stat_t, string) bool { return true }); !removed || err != nil {
		t.Errorf("approved Remove: %v, %v", removed, err)
	}
	if n := entries(); n != 0 {
		t.Errorf("%d entries in the directory after Remove, want 0", n)
	}
}
