package control

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// nobody is the uid of the peer the server must refuse.
const nobody = 65534

// A peer of another uid is refused by SO_PEERCRED, even with the socket
// file's mode loosened, and its request never reaches the handler. The
// peer is this test's own thread with its effective uid changed: the
// kernel keeps credentials per thread and SO_PEERCRED records the
// connecting thread's.
func TestRefusesAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to connect as another user")
	}
	h := &fakeHandler{}
	path, _ := serve(t, h)
	if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	resp, err := doAs(nobody, path, Request{Cmd: CmdRestart})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("permission denied: zedr-run pid=%d runs as uid 0 and takes commands only from uid 0 or root, not from uid %d", os.Getpid(), nobody)
	if resp.OK || resp.Error != want {
		t.Errorf("answer %+v, want error %q", resp, want)
	}
	if calls := h.Calls(); len(calls) != 0 {
		t.Errorf("the handler was called: %q", calls)
	}

	// With the file's own mode, that user cannot even connect.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := doAs(nobody, path, Request{Cmd: CmdStatus}); !strings.Contains(fmt.Sprint(err), "permission denied") {
		t.Errorf("connect as uid %d to a 0600 socket: %v, want permission denied", nobody, err)
	}
}

// doAs is Do from a thread whose effective uid is uid, on a goroutine of
// its own: should the uid not go back, the goroutine ends with the thread
// still locked and the runtime ends the thread. Threads the runtime starts
// meanwhile do not inherit the uid: it starts them from its template
// thread while this one is locked.
func doAs(uid int, path string, req Request) (Response, error) {
	type result struct {
		resp Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); errno != 0 {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("setresuid: %w", errno)}
			return
		}
		// Do connects on this thread: SO_PEERCRED records its uid.
		resp, err := Do(path, req)
		if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 0, ^uintptr(0)); errno != 0 {
			done <- result{err: fmt.Errorf("setresuid back to 0: %w", errno)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{resp, err}
	}()
	r := <-done
	return r.resp, r.err
}
