package wrapper

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// notifySocket is the NOTIFY_SOCKET zedr-run gives its children: a datagram
// socket in a private directory, read with the sender's credentials so that
// each message can be tied to a generation (sd_notify(3), NotifyAccess=all).
type notifySocket struct {
	conn *net.UnixConn
	dir  string
	path string
	uids map[uint32]bool // senders accepted, besides root

	buf, oob []byte // for reading a datagram; only intake, under its lock
}

// notifyMessage is one datagram a child sent.
type notifyMessage struct {
	pid    int
	fields map[string]string // READY=1 -> fields["READY"] == "1"
}

func listenNotify(parent string, uids ...int) (*notifySocket, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	// A file in a private directory where there is one; in a scratch
	// container with no writable /tmp, an abstract socket, which needs no
	// file system (senders are still checked by their credentials).
	dir, err := os.MkdirTemp(parent, "zedr-run-")
	path := "@zedr-run/" + strconv.Itoa(os.Getpid()) + "/" + strconv.FormatInt(time.Now().UnixNano(), 36) + "/notify"
	if err == nil {
		path = filepath.Join(dir, "notify")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("create notify socket %s: %w", path, err)
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		if cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		conn.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("notify socket %s: SO_PASSCRED: %w", path, err)
	}
	n := &notifySocket{conn: conn, dir: dir, path: path, uids: map[uint32]bool{uint32(os.Getuid()): true, 0: true}}
	n.buffers()
	for _, uid := range uids {
		n.uids[uint32(uid)] = true
	}
	return n, nil
}

// message makes a notifyMessage of a datagram and its control data, if its
// sender is one zedr-run accepts. The datagrams are read by intake (see
// barrier_linux.go), which keeps them in order with the exits.
func (n *notifySocket) message(b, oob []byte) (notifyMessage, bool) {
	cred := senderOf(oob)
	if cred == nil || !n.uids[cred.Uid] {
		return notifyMessage{}, false
	}
	return notifyMessage{pid: int(cred.Pid), fields: parseNotify(string(b))}, true
}

func (n *notifySocket) Close() error {
	err := n.conn.Close()
	if n.dir != "" {
		os.RemoveAll(n.dir)
	}
	return err
}

// buffers allocates the read buffers: a datagram is read whole up to 4096
// bytes (longer ones are cut), with room for the sender's credentials.
func (n *notifySocket) buffers() {
	n.buf = make([]byte, 4096)
	n.oob = make([]byte, unix.CmsgSpace(unix.SizeofUcred))
}

func senderOf(oob []byte) *unix.Ucred {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return cred
		}
	}
	return nil
}

// parseNotify splits an sd_notify message into its KEY=VALUE lines.
func parseNotify(msg string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "" {
			fields[k] = v
		}
	}
	return fields
}
