package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxMessage is the longest datagram read; a longer one is ignored whole
// (systemd's limit too: PIPE_BUF, NOTIFY_BUFFER_MAX).
const MaxMessage = 4096

// MaxMessageFDs bounds the descriptors one message may carry once
// AcceptFDs is on. 64 is far more than sd_pid_notify_with_fds(3) callers
// attach to one name, and half of the fd store's default size: a message
// with more is refused whole (none of its descriptors kept), never stored
// in part. The kernel's own bound is SCM_MAX_FD (253).
const MaxMessageFDs = 64

// Socket is a receiving NOTIFY_SOCKET: a datagram socket that reads each
// message with its sender's credentials and delivers only those of the
// accepted uids.
type Socket struct {
	conn *net.UnixConn
	raw  syscall.RawConn
	fd   int
	dir  string // the private directory, "" for an abstract socket
	path string
	uids map[uint32]bool // accepted senders

	mu       sync.Mutex // guards the buffers and maxFDs
	buf, oob []byte
	maxFDs   int // descriptors a message may carry (AcceptFDs), 0: none
}

// Listen creates a NOTIFY_SOCKET in a new private directory under parent
// (os.TempDir() if ""), named "notify". Where no directory can be created
// there (a scratch container with no writable /tmp), the socket is the
// abstract "@zedr-run/PID/NONCE/notify" instead, which needs no file system
// and whose senders are still checked by their credentials. Messages of
// root, of our own uid and of uids are accepted.
func Listen(parent string, uids ...int) (*Socket, error) {
	if parent == "" {
		parent = os.TempDir()
	}
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
	s, err := newSocket(conn, path, dir, uids)
	if err != nil {
		conn.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	return s, nil
}

// Restore wraps fd, a Socket's descriptor handed over by a previous
// zedr-run (Fd, Path, Dir), and takes it over: fd is closed whether or not
// Restore succeeds. Close removes dir, as it would have in the old one.
func Restore(fd int, path, dir string, uids ...int) (*Socket, error) {
	f := os.NewFile(uintptr(fd), "notify")
	c, err := net.FileConn(f)
	f.Close() // FileConn made its own copy
	if err != nil {
		return nil, fmt.Errorf("restore notify socket %s from fd %d: %w", path, fd, err)
	}
	conn, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("restore notify socket %s from fd %d: not a unix socket", path, fd)
	}
	s, err := newSocket(conn, path, dir, uids)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// newSocket turns on SO_PASSCRED (again, for a restored socket: it costs
// nothing and does not depend on the old process having done it).
func newSocket(conn *net.UnixConn, path, dir string, uids []int) (*Socket, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	fd := -1
	cerr := raw.Control(func(f uintptr) {
		fd = int(f)
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	})
	if cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: SO_PASSCRED: %w", path, err)
	}
	s := &Socket{
		conn: conn, raw: raw, fd: fd, dir: dir, path: path,
		uids: map[uint32]bool{uint32(os.Getuid()): true, 0: true},
		buf:  make([]byte, MaxMessage),
		oob:  make([]byte, unix.CmsgSpace(unix.SizeofUcred)),
	}
	for _, uid := range uids {
		s.uids[uint32(uid)] = true
	}
	return s, nil
}

// AcceptFDs makes Receive keep the descriptors a sender attaches
// (SCM_RIGHTS, for FDSTORE=1), up to n per message (at most
// MaxMessageFDs); they arrive close-on-exec (MSG_CMSG_CLOEXEC). A message
// with more keeps none and has FDsCut set. Without AcceptFDs, or with n
// 0, no descriptor a sender attaches stays open.
func (s *Socket) AcceptFDs(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxFDs = max(min(n, MaxMessageFDs), 0)
	s.oob = make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*s.maxFDs))
}

// Path is the socket's address for NOTIFY_SOCKET: a file path, or "@name"
// for an abstract socket.
func (s *Socket) Path() string { return s.path }

// Dir is the private directory holding the socket file, "" for an abstract
// socket. Close removes it.
func (s *Socket) Dir() string { return s.dir }

// Fd is the socket's descriptor, to hand over to the next zedr-run
// (Restore). It stays owned by the Socket and valid until Close.
func (s *Socket) Fd() int { return s.fd }

// HandTo makes uid:gid the owner of the private directory and of the socket
// file, so that processes of that user can send (their uid must also be
// accepted). The file goes first, while only we can write the directory,
// and neither change follows a symbolic link. An abstract socket needs
// nothing.
func (s *Socket) HandTo(uid, gid int) error {
	if s.dir == "" {
		return nil
	}
	for _, p := range []string{s.path, s.dir} {
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("hand the notify socket to uid %d: %w", uid, err)
		}
	}
	return nil
}

// Close closes the socket and removes its private directory. A Wait in
// progress returns.
func (s *Socket) Close() error {
	err := s.conn.Close()
	if s.dir != "" {
		if rerr := os.RemoveAll(s.dir); err == nil {
			err = rerr
		}
	}
	return err
}
