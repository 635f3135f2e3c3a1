package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// managerSocket is a service manager's NOTIFY_SOCKET as systemd reads it:
// one datagram a message, its fds (SCM_RIGHTS) received with it. It is the
// one reader of a fake NOTIFY_SOCKET for the tests that run zedr-run as a
// systemd service.
type managerSocket struct {
	t    *testing.T
	conn *net.UnixConn
	path string
}

func newManagerSocket(t *testing.T) *managerSocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &managerSocket{t: t, conn: conn, path: path}
}

// managerMessage is one message: its text, its KEY=VALUE lines and the fds
// it carried (closed when the test ends).
type managerMessage struct {
	text   string
	fields map[string]string
	fds    []*os.File
}

// until reads messages until done says so of one, within waitLimit; the
// error is the socket's (a timeout when none came).
func (m *managerSocket) until(done func(managerMessage) bool) error {
	m.conn.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(64*4))
	for {
		n, oobn, _, _, err := m.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return err
		}
		msg := managerMessage{text: string(buf[:n]), fields: map[string]string{}}
		for _, l := range strings.Split(strings.TrimSpace(msg.text), "\n") {
			k, v, _ := strings.Cut(l, "=")
			msg.fields[k] = v
		}
		if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, c := range cmsgs {
				if fds, err := unix.ParseUnixRights(&c); err == nil {
					for _, fd := range fds {
						f := os.NewFile(uintptr(fd), "stored")
						m.t.Cleanup(func() { f.Close() })
						msg.fds = append(msg.fds, f)
					}
				}
			}
		}
		if done(msg) {
			return nil
		}
		for _, f := range msg.fds {
			f.Close()
		}
	}
}

// next returns the next message that has key, skipping the others (STATUS=
// updates in between), within waitLimit.
func (m *managerSocket) next(key string) managerMessage {
	m.t.Helper()
	return m.nextOf(key)
}

// nextOf returns the next message that has one of keys.
func (m *managerSocket) nextOf(keys ...string) managerMessage {
	m.t.Helper()
	var got managerMessage
	err := m.until(func(msg managerMessage) bool {
		for _, key := range keys {
			if _, ok := msg.fields[key]; ok {
				got = msg
				return true
			}
		}
		return false
	})
	if err != nil {
		m.t.Fatalf("waiting for a message with %s: %v", keys, err)
	}
	return got
}

// pyNotify is sd_notify in Python, for the test servers written in it that
// speak the protocol themselves (socket.sendmsg, no library); they import
// os and socket.
const pyNotify = `def notify(msg):
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendmsg([msg.encode()], [], 0, addr)
    s.close()
`
