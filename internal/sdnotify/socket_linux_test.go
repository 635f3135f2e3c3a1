package sdnotify

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

func listen(t *testing.T, parent string, uids ...int) *Socket {
	t.Helper()
	s, err := Listen(parent, uids...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receive returns the next message, which must already be queued: a
// datagram is on the receiving socket's queue once sendmsg returns.
func receive(t *testing.T, s *Socket) Message {
	t.Helper()
	m, err := s.Receive()
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return m
}

func empty(t *testing.T, s *Socket) {
	t.Helper()
	if m, err := s.Receive(); err != ErrEmpty {
		t.Fatalf("Receive = %+v, %v; want ErrEmpty", m, err)
	}
}

// TestRoundTrip: what a Sender sends arrives whole, in order, with the
// sender's own pid and uid.
func TestRoundTrip(t *testing.T) {
	s := listen(t, t.TempDir())
	if s.Dir() == "" || s.Path() != filepath.Join(s.Dir(), "notify") {
		t.Fatalf("Path %q, Dir %q: want a file in a private directory", s.Path(), s.Dir())
	}
	empty(t, s)
	snd := NewSender(s.Path())
	defer snd.Close()
	if err := snd.Send("READY=1", "STATUS=serving on :8080"); err != nil {
		t.Fatal(err)
	}
	if err := snd.Send("STOPPING=1"); err != nil {
		t.Fatal(err)
	}
	m := receive(t, s)
	if m.PID != os.Getpid() || m.UID != os.Getuid() || m.GID != os.Getgid() {
		t.Errorf("sender pid=%d uid=%d gid=%d; want pid=%d uid=%d gid=%d", m.PID, m.UID, m.GID, os.Getpid(), os.Getuid(), os.Getgid())
	}
	if m.Fields["READY"] != "1" || m.Fields["STATUS"] != "serving on :8080" || len(m.Fields) != 2 {
		t.Errorf("first message %q", m.Fields)
	}
	if m := receive(t, s); m.Fields["STOPPING"] != "1" {
		t.Errorf("second message %q", m.Fields)
	}
	empty(t, s)
}

// TestLongMessage: a datagram longer than MaxMessage is ignored whole, even
// the READY=1 before the cut, and says so; one of exactly MaxMessage bytes is
// read whole.
func TestLongMessage(t *testing.T) {
	s := listen(t, t.TempDir())
	if err := Send(s.Path(), "READY=1\nSTATUS="+strings.Repeat("x", 2*MaxMessage)); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, s); !m.Truncated || len(m.Fields) != 0 {
		t.Errorf("overlong datagram: Truncated=%v fields %d; want it ignored whole", m.Truncated, len(m.Fields))
	}
	exact := "STATUS=" + strings.Repeat("x", MaxMessage-len("STATUS="))
	if err := Send(s.Path(), exact); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, s); m.Truncated || len(m.Fields["STATUS"]) != MaxMessage-len("STATUS=") {
		t.Errorf("datagram of MaxMessage bytes: Truncated=%v, STATUS of %d bytes", m.Truncated, len(m.Fields["STATUS"]))
	}
}

// TestAbstractFallback: with no directory to create the socket in, it is
// abstract, has no file, and works the same.
func TestAbstractFallback(t *testing.T) {
	s := listen(t, filepath.Join(t.TempDir(), "missing"))
	if !strings.HasPrefix(s.Path(), "@zedr-run/") || s.Dir() != "" {
		t.Fatalf("Path %q, Dir %q: want an abstract socket", s.Path(), s.Dir())
	}
	if err := Send(s.Path(), "READY=1"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, s); m.PID != os.Getpid() || m.Fields["READY"] != "1" {
		t.Errorf("got %+v", m)
	}
	if err := s.HandTo(65534, 65534); err != nil {
		t.Errorf("HandTo on an abstract socket: %v", err)
	}
}

// TestCloseRemovesDir: Close removes the private directory, and a Receive
// after it fails with net.ErrClosed.
func TestCloseRemovesDir(t *testing.T) {
	s, err := Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after Close: %v", s.Dir(), err)
	}
	if _, err := s.Receive(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Receive after Close: %v; want net.ErrClosed", err)
	}
}

// TestRestore: a socket handed over by its descriptor keeps its queue and
// its credentials check; Restore takes the descriptor over.
func TestRestore(t *testing.T) {
	s := listen(t, t.TempDir())
	if err := Send(s.Path(), "N=before"); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(s.Fd())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(fd, s.Path(), s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Path() != s.Path() || r.Dir() != s.Dir() {
		t.Errorf("restored Path %q Dir %q; want %q %q", r.Path(), r.Dir(), s.Path(), s.Dir())
	}
	if err := Send(r.Path(), "N=after"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"before", "after"} {
		if m := receive(t, r); m.Fields["N"] != want || m.PID != os.Getpid() {
			t.Errorf("restored socket got %+v; want N=%s", m, want)
		}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("fd %d still open after Restore: %v", fd, err)
	}

	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(bad, "x", ""); err == nil {
		t.Error("Restore of /dev/null succeeded")
	}
	if _, err := unix.FcntlInt(uintptr(bad), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("fd %d still open after a failed Restore: %v", bad, err)
	}
}

// TestWait: Wait wakes the reader for messages that arrive later, and
// returns net.ErrClosed once the socket is closed.
func TestWait(t *testing.T) {
	s, err := Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.Wait(func() bool {
			for {
				m, err := s.Receive()
				if err == ErrEmpty {
					return false
				}
				if err != nil {
					return true
				}
				got <- m.Fields["N"]
			}
		})
	}()
	for _, n := range []string{"1", "2", "3"} {
		if err := Send(s.Path(), "N="+n); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-got:
			if g != n {
				t.Fatalf("got N=%s, want N=%s", g, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("N=%s not received", n)
		}
	}
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Wait after Close: %v; want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
}

// TestReceiveInstallsNoFDs: descriptors a sender attaches never become
// ours: there is no room for them in the control buffer.
func TestReceiveInstallsNoFDs(t *testing.T) {
	s := listen(t, t.TempDir())
	p := pipe(t)
	snd := NewSender(s.Path())
	defer snd.Close()
	if err := snd.Send("N=0"); err != nil { // the connection's own fd is open now
		t.Fatal(err)
	}
	receive(t, s)
	before := openFDs(t)
	if err := snd.SendWithFDs([]int{p[0], p[1]}, "FDSTORE=1"); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, s); m.Fields["FDSTORE"] != "1" {
		t.Errorf("got %+v", m)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d fds open before the message, %d after", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestMonotonicUsec(t *testing.T) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	now := ts.Nano() / 1000
	v, ok := strings.CutPrefix(MonotonicUsec(), "MONOTONIC_USEC=")
	if !ok {
		t.Fatalf("MonotonicUsec() = %q", MonotonicUsec())
	}
	var usec int64
	for _, c := range v {
		if c < '0' || c > '9' {
			t.Fatalf("MonotonicUsec() = %q", MonotonicUsec())
		}
		usec = usec*10 + int64(c-'0')
	}
	if usec < now {
		t.Errorf("MONOTONIC_USEC=%d, before CLOCK_MONOTONIC %d read earlier", usec, now)
	}
}
