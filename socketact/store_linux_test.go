package socketact

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sdnotify"
)

// TestStoreMessages: File creates and stores what was not passed, once
// per name; Remove and StoreConn send what systemd reads. Checked on a
// real notify socket.
func TestStoreMessages(t *testing.T) {
	s, err := sdnotify.Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AcceptFDs(4)
	t.Setenv("NOTIFY_SOCKET", s.Path())
	t.Setenv("LISTEN_PID", "") // nothing passed
	creates := 0
	create := func() (*os.File, error) {
		creates++
		fd, err := unix.MemfdCreate("state", unix.MFD_CLOEXEC)
		return os.NewFile(uintptr(fd), "state"), err
	}
	f, err := File("state", create)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := File("state", create); g != f || err != nil || creates != 1 {
		t.Errorf("second File: %v, %v after %d creates; want the same file, one create", g, err, creates)
	}
	m, err := s.Receive()
	if err != nil {
		t.Fatal(err)
	}
	if m.Fields["FDSTORE"] != "1" || m.Fields["FDNAME"] != "state" || len(m.FDs) != 1 {
		t.Fatalf("File sent %q with %d fds", m.Fields, len(m.FDs))
	}
	var a, b unix.Stat_t
	unix.Fstat(int(f.Fd()), &a)
	unix.Fstat(int(m.FDs[0].Fd()), &b)
	if a.Ino != b.Ino {
		t.Errorf("the stored fd is not the created file")
	}
	m.FDs[0].Close()
	if err := Remove("state"); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Receive(); err != nil || m.Fields["FDSTOREREMOVE"] != "1" || m.Fields["FDNAME"] != "state" {
		t.Errorf("Remove sent %q, %v", m.Fields, err)
	}
	if err := Store("a:b", f); err == nil {
		t.Error("a name with ':' was stored")
	}
	if _, err := s.Receive(); err != sdnotify.ErrEmpty {
		t.Errorf("a refused name was sent: %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Store("x", f); err != ErrNoManager {
		t.Errorf("Store without NOTIFY_SOCKET: %v, want ErrNoManager", err)
	}
}

// TestKindOfNotSocket: a passed memfd is neither kind, not an error, so
// that Listeners and PacketConns skip it.
func TestKindOfNotSocket(t *testing.T) {
	fd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "x")
	defer f.Close()
	if k, err := kindOf(f); k != sockOther || err != nil {
		t.Errorf("kindOf(memfd) = %v, %v; want sockOther, nil", k, err)
	}
}
