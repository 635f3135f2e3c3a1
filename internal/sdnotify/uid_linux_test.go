package sdnotify

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as a sender of another uid: with
// SDNOTIFY_TEST_SEND=ADDR it sends SDNOTIFY_TEST_MSG there and exits.
func TestMain(m *testing.M) {
	if addr := os.Getenv("SDNOTIFY_TEST_SEND"); addr != "" {
		var fds []int
		if os.Getenv("SDNOTIFY_TEST_FD") != "" {
			fds = []int{0} // with SDNOTIFY_TEST_FD: attach stdin (/dev/null; a pipe to the test would hold its reader)
		}
		snd := NewSender(addr)
		if err := snd.SendWithFDs(fds, os.Getenv("SDNOTIFY_TEST_MSG")); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const nobody = 65534

// sendAs runs a copy of the test binary as uid:gid nobody, which sends msg
// to addr; it returns whether the send succeeded. By the time it returns
// the datagram, if any, is queued.
type sendAs func(addr, msg string) error

func asNobody(t *testing.T) sendAs {
	if os.Geteuid() != 0 {
		t.Skip("needs root to send as another uid")
	}
	// The go test binary's own directory is private: copy it where
	// nobody can run it.
	dir, err := os.MkdirTemp("", "sdnotify-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sender")
	if err := copyFile(bin, self); err != nil {
		t.Fatal(err)
	}
	return func(addr, msg string) error {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), "SDNOTIFY_TEST_SEND="+addr, "SDNOTIFY_TEST_MSG="+msg)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("sender as uid %d: %v: %s", nobody, err, out)
		}
		return err
	}
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestUIDFilter: a message of a uid that is not accepted is dropped, one
// of an accepted uid is delivered with that uid.
func TestUIDFilter(t *testing.T) {
	send := asNobody(t)
	// Abstract sockets have no file permissions: only the uid check
	// stands between another user and the socket.
	missing := filepath.Join(t.TempDir(), "missing")
	s := listen(t, missing)
	if err := send(s.Path(), "N=nobody"); err != nil {
		t.Fatal(err)
	}
	if err := Send(s.Path(), "N=self"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, s); m.Fields["N"] != "self" {
		t.Errorf("got %+v from a socket that does not accept uid %d; want N=self", m, nobody)
	}
	empty(t, s)

	a := listen(t, missing, nobody)
	if err := send(a.Path(), "N=nobody"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, a); m.Fields["N"] != "nobody" || m.UID != nobody {
		t.Errorf("got %+v; want N=nobody from uid %d", m, nobody)
	}
}

// TestHandTo: the socket file is out of another user's reach until it is
// handed to that user.
func TestHandTo(t *testing.T) {
	send := asNobody(t)
	parent, err := os.MkdirTemp("", "sdnotify-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	s := listen(t, parent, nobody)
	if err := send(s.Path(), "N=early"); err == nil {
		t.Errorf("uid %d could send to %s before HandTo", nobody, s.Path())
	}
	if err := s.HandTo(nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := send(s.Path(), "N=handed"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, s); m.Fields["N"] != "handed" || m.UID != nobody {
		t.Errorf("got %+v; want N=handed from uid %d", m, nobody)
	}
}

// TestOtherUserFDsClosed: descriptors attached by a sender of a uid the
// socket does not accept are closed, never delivered, even when the socket
// accepts descriptors.
func TestOtherUserFDsClosed(t *testing.T) {
	send := asNobody(t)
	s := listen(t, "")
	s.AcceptFDs(4)
	if err := os.Chmod(s.Dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.Path(), 0o777); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	t.Setenv("SDNOTIFY_TEST_FD", "1")
	if err := send(s.Path(), "FDSTORE=1"); err != nil {
		t.Fatal(err)
	}
	empty(t, s)
	if after := openFDs(t); after != before {
		t.Errorf("%d fds open before the other user's message, %d after", before, after)
	}
}
