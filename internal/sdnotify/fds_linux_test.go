package sdnotify

import (
	"testing"

	"golang.org/x/sys/unix"
)

// pipe returns a pipe's two ends, closed at the end of the test.
func pipe(t *testing.T) [2]int {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p
}

// TestAcceptFDs: after AcceptFDs the descriptors a sender attaches arrive
// with the message, in order, close-on-exec, and work; a message with more
// than the bound keeps none of them and says so, and nothing leaks.
func TestAcceptFDs(t *testing.T) {
	s := listen(t, t.TempDir())
	s.AcceptFDs(2)
	p := pipe(t)
	snd := NewSender(s.Path())
	defer snd.Close()
	if err := snd.Send("N=0"); err != nil { // the connection's own fd is open now
		t.Fatal(err)
	}
	receive(t, s)
	before := openFDs(t)

	if err := snd.SendWithFDs([]int{p[1], p[0]}, "FDSTORE=1", "FDNAME=pipe"); err != nil {
		t.Fatal(err)
	}
	m := receive(t, s)
	if len(m.FDs) != 2 || m.FDsCut || m.Fields["FDNAME"] != "pipe" {
		t.Fatalf("got %d fds, cut %v, fields %q; want 2 fds", len(m.FDs), m.FDsCut, m.Fields)
	}
	for _, f := range m.FDs {
		if flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("received fd %d: flags %#x, %v; want close-on-exec", f.Fd(), flags, err)
		}
	}
	// The first one is the pipe's write end: what goes in comes out of ours.
	if _, err := m.FDs[0].Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if n, err := unix.Read(p[0], buf); n != 1 || err != nil || buf[0] != 'x' {
		t.Errorf("read %d %q %v through the received write end", n, buf, err)
	}
	for _, f := range m.FDs {
		f.Close()
	}

	if err := snd.SendWithFDs([]int{p[0], p[1], p[0]}, "FDSTORE=1"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, s); len(m.FDs) != 0 || !m.FDsCut {
		t.Errorf("three fds with room for two: got %d fds, cut %v; want none, cut", len(m.FDs), m.FDsCut)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d fds open before the messages, %d after", before, after)
	}
}

// TestAcceptFDsBound: AcceptFDs never accepts more than MaxMessageFDs.
func TestAcceptFDsBound(t *testing.T) {
	s := listen(t, t.TempDir())
	s.AcceptFDs(1 << 20)
	if s.maxFDs != MaxMessageFDs {
		t.Errorf("AcceptFDs(1<<20): bound %d, want MaxMessageFDs (%d)", s.maxFDs, MaxMessageFDs)
	}
	fds := make([]int, MaxMessageFDs+1)
	p := pipe(t)
	for i := range fds {
		fds[i] = p[0]
	}
	before := openFDs(t)
	if err := Send(s.Path(), "N=0"); err != nil {
		t.Fatal(err)
	}
	receive(t, s)
	snd := NewSender(s.Path())
	if err := snd.SendWithFDs(fds, "FDSTORE=1"); err != nil {
		t.Fatal(err)
	}
	snd.Close()
	if m := receive(t, s); len(m.FDs) != 0 || !m.FDsCut {
		t.Errorf("%d fds: got %d, cut %v; want none, cut", len(fds), len(m.FDs), m.FDsCut)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d fds open before, %d after", before, after)
	}
}

// TestAcceptFDsOddBound: the bound holds exactly for every n, although the
// control buffer is rounded up (CmsgSpace): with n 1, a message of 2
// descriptors keeps none.
func TestAcceptFDsOddBound(t *testing.T) {
	s := listen(t, t.TempDir())
	s.AcceptFDs(1)
	p := pipe(t)
	before := openFDs(t)
	snd := NewSender(s.Path())
	if err := snd.SendWithFDs([]int{p[0], p[1]}, "FDSTORE=1"); err != nil {
		t.Fatal(err)
	}
	snd.Close()
	if m := receive(t, s); len(m.FDs) != 0 || !m.FDsCut {
		t.Errorf("2 fds with AcceptFDs(1): got %d, cut %v; want none, cut", len(m.FDs), m.FDsCut)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d fds open before, %d after", before, after)
	}
}
