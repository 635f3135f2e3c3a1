package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFDStore plays systemd's part for --fdstore: it receives the sockets
// the way systemd's notify socket does (FDSTORE=1, FDNAME=, SCM_RIGHTS),
// keeps them while zedr-run is killed with SIGKILL (a client connecting
// meanwhile waits in the queue), and hands them to a new zedr-run in
// LISTEN_FDS, which adopts them and answers the waiting client.
func TestFDStore(t *testing.T) {
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	uds := filepath.Join(dir, "app.sock")
	args := []string{"--listen", "tcp:127.0.0.1:0,name=web", "--listen", "unix:" + uds + ",name=admin", "--ready", "delay:100ms", "--", bin("testserver")}
	cmd := execZedr(append([]string{"--fdstore"}, args...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
	z := startCmd(t, cmd, true)

	stored := map[string]*os.File{}
	buf, oob := make([]byte, 4096), make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	for len(stored) < 2 {
		n, noob, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Fatalf("waiting for FDSTORE=1 messages: %v (have %v)", err, stored)
		}
		msg := string(buf[:n])
		if !strings.Contains(msg, "FDSTORE=1") {
			continue
		}
		cmsgs, err := unix.ParseSocketControlMessage(oob[:noob])
		if err != nil || len(cmsgs) != 1 {
			t.Fatalf("FDSTORE message %q without one SCM_RIGHTS: %v", msg, err)
		}
		fds, err := unix.ParseUnixRights(&cmsgs[0])
		if err != nil || len(fds) != 1 {
			t.Fatalf("FDSTORE message %q: rights %v %v", msg, fds, err)
		}
		_, name, _ := strings.Cut(msg, "FDNAME=")
		stored[name] = os.NewFile(uintptr(fds[0]), name)
	}
	if stored["web"] == nil || stored["admin"] == nil {
		t.Fatalf("stored %v, want web and admin", stored)
	}
	if sa, err := unix.Getsockname(int(stored["web"].Fd())); err != nil || fmt.Sprint(sa.(*unix.SockaddrInet4).Port) != z.addr[strings.LastIndexByte(z.addr, ':')+1:] {
		t.Fatalf("stored web socket is bound to %v, want %s", sa, z.addr)
	}
	z.readyPID(1)

	// zedr-run crashes; its child dies with it. The socket lives on in the
	// store, so a client is queued, not refused.
	z.signal(syscall.SIGKILL)
	z.wait()
	waiting := make(chan string, 1)
	go func() { waiting <- httpGet(t, z.addr, "/") }()

	// The service manager starts zedr-run again with the stored sockets.
	restart := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$@"`, "sh", bin("zedr-run")}, args...)...)
	restart.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=web:admin")
	restart.ExtraFiles = []*os.File{stored["web"], stored["admin"]}
	z2 := startCmd(t, restart, true)
	z2.waitLog(`msg=listening fd=3 spec="tcp:127.0.0.1:0,name=web" addr=` + z.addr + ` .*inherited=true`)
	z2.waitLog(`msg=listening fd=4 spec="unix:` + uds + `,name=admin" .*inherited=true`)
	select {
	case body := <-waiting:
		if !strings.HasPrefix(body, "generation=1 ") {
			t.Errorf("the client queued across the crash got %q", body)
		}
	case <-time.After(waitLimit):
		t.Fatal("the client queued across the crash got no answer")
	}
}
