package control

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestListen(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "ctl.sock")
	srv, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket file %s: mode %v, want a socket of mode 0600", path, fi.Mode())
	}
	if srv.Path() != path {
		t.Errorf("Path() = %q, want %q", srv.Path(), path)
	}
	if fd, err := srv.FD(); err != nil || !cloexec(t, fd) {
		t.Errorf("FD() = %d, %v: want a close-on-exec descriptor", fd, err)
	}
	// A second server at the same path is refused while the first listens.
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Errorf("second Listen: %v, want ErrInUse", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close, the socket file is still there: %v", err)
	}
}

func TestListenStaleReplaced(t *testing.T) {
	path := filepath.Join(shortDir(t), "ctl.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // a stale socket file: nobody listens
	srv, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	srv.Close()
}

func TestListenRefuses(t *testing.T) {
	dir := shortDir(t)
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file); !errors.Is(err, ErrInTheWay) {
		t.Errorf("Listen over a regular file: %v, want ErrInTheWay", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Errorf("the regular file was touched: %q, %v", b, err)
	}
	long := filepath.Join(dir, strings.Repeat("x", 120)+".sock")
	if _, err := Listen(long); !errors.Is(err, ErrPathTooLong) {
		t.Errorf("Listen at a %d-byte path: %v, want ErrPathTooLong", len(long), err)
	}
	missing := filepath.Join(dir, "no", "such", "dir", "c.sock")
	_, err := Listen(missing)
	if want := "control socket: listen unix " + missing + ": bind: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("Listen in a missing directory: %v, want %q", err, want)
	}
}

// Restore takes over the socket a previous zedr-run handed over across its
// exec, as the descriptor FD returned, and serves it; Close removes the file.
func TestRestore(t *testing.T) {
	path := filepath.Join(shortDir(t), "ctl.sock")
	old, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := old.FD()
	if err != nil {
		t.Fatal(err)
	}
	// What survives the exec: the listening descriptor, without the old
	// process's Go objects.
	handed, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	old.ln.Close()
	old.sock.File.Close()

	srv, err := Restore(handed, path)
	if err != nil {
		t.Fatal(err)
	}
	if !cloexec(t, handed) {
		t.Error("Restore left the handed-over descriptor inheritable")
	}
	h := &fakeHandler{status: Status{PID: 5}}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(h, nil)
	}()
	if resp := do(t, path, Request{Cmd: CmdStatus}); !resp.OK || resp.Status.PID != 5 {
		t.Errorf("status from the restored server: %+v", resp)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-served:
	case <-time.After(waitLimit):
		t.Fatalf("Serve did not return within %v of Close", waitLimit)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close, the socket file is still there: %v", err)
	}
}

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}
