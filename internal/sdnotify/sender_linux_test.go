package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// plain is a bare datagram socket at a path, as a service manager's.
func plain(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// TestSenderRedials: a Sender keeps its connection, dials again once when
// the manager re-created its socket, and reports a manager that is gone.
func TestSenderRedials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	first := plain(t, path)
	snd := NewSender(path)
	defer snd.Close()
	if snd.Addr() != path {
		t.Errorf("Addr() = %q", snd.Addr())
	}
	if err := snd.Send("READY=1", "STATUS=a"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, first); got != "READY=1\nSTATUS=a" {
		t.Errorf("got %q", got)
	}
	first.Close()
	os.Remove(path)
	second := plain(t, path)
	if err := snd.Send("STATUS=b"); err != nil {
		t.Fatalf("send after the socket was re-created: %v", err)
	}
	if got := read(t, second); got != "STATUS=b" {
		t.Errorf("got %q", got)
	}
	second.Close()
	os.Remove(path)
	if err := snd.Send("STATUS=c"); err == nil {
		t.Error("send with nobody listening succeeded")
	}
	if err := Send(path, "READY=1"); err == nil {
		t.Error("Send with nobody listening succeeded")
	}
}

// TestSenderNoAddr: with no NOTIFY_SOCKET nothing is sent, and that is no
// error.
func TestSenderNoAddr(t *testing.T) {
	snd := NewSender("")
	if err := snd.Send("READY=1"); err != nil {
		t.Error(err)
	}
	if err := snd.SendWithFDs([]int{0}, "FDSTORE=1"); err != nil {
		t.Error(err)
	}
	if err := snd.Close(); err != nil {
		t.Error(err)
	}
}

// TestSendWithFDs: the descriptors arrive as SCM_RIGHTS with the message,
// as systemd's fd store receives them, and stay open in the sender.
func TestSendWithFDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	mgr := plain(t, path)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	snd := NewSender(path)
	defer snd.Close()
	if err := snd.SendWithFDs([]int{p[1]}, "FDSTORE=1", "FDNAME=web"); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 512), make([]byte, unix.CmsgSpace(4))
	n, noob, _, _, err := mgr.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); got != "FDSTORE=1\nFDNAME=web" {
		t.Errorf("got %q", got)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:noob])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v, %v", fds, err)
	}
	defer unix.Close(fds[0])
	if _, err := unix.Write(fds[0], []byte("x")); err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	if n, err := unix.Read(p[0], one); n != 1 || err != nil || one[0] != 'x' {
		t.Errorf("read through the passed fd: %d %v %q", n, err, one)
	}
	if _, err := unix.FcntlInt(uintptr(p[1]), unix.F_GETFD, 0); err != nil {
		t.Errorf("the sender's fd was closed: %v", err)
	}
}
