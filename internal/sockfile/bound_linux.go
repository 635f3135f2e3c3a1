package sockfile

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// BindPerm binds fd to sa with a umask of 0777&^perm, so that a unix socket
// file is created with exactly the permission bits perm (0777 at most): the
// mode is right from the start and no chmod by path follows. The umask is
// set on a thread of its own that has unshared its file system attributes
// (CLONE_FS) and ends with the call, so no other file zedr-run creates
// meanwhile is affected. Where unshare is refused, it binds under the
// process's umask; the caller then sets the mode with Chmod on the inode
// that Bound verified.
func BindPerm(fd int, sa unix.Sockaddr, perm uint32) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the Go runtime ends this thread, with its own
		// umask, when the goroutine returns.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			runtime.UnlockOSThread() // the umask is shared: leave it alone
			errc <- unix.Bind(fd, sa)
			return
		}
		unix.Umask(int(0o777 &^ (perm & 0o777)))
		errc <- unix.Bind(fd, sa)
	}()
	return <-errc
}

// Bound opens the file at path, the path that the unix socket sockfd was
// bound to, without following a symbolic link (O_PATH|O_NOFOLLOW), and
// checks that it is the socket's own file: the device and inode that the
// kernel reports for sockfd (sock_diag, UDIAG_SHOW_VFS). Where the kernel
// cannot report them, it checks instead that the file is a socket, owned by
// our effective uid, with one link. The error wraps ErrReplaced when the
// file is another one; nothing has been changed then. The caller closes f.
func Bound(sockfd int, path string) (f *os.File, st unix.Stat_t, err error) {
	var sock unix.Stat_t
	if err := unix.Fstat(sockfd, &sock); err != nil {
		return nil, st, fmt.Errorf("fstat socket: %w", err)
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, st, fmt.Errorf("%w (%w)", ErrReplaced, err)
		}
		return nil, st, err
	}
	f = os.NewFile(uintptr(fd), path)
	defer func() {
		if err != nil {
			f.Close()
			f = nil
		}
	}()
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, st, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, st, fmt.Errorf("%w (it is not a socket)", ErrReplaced)
	}
	dev, ino, err := boundTo(sock.Ino)
	switch {
	case err == nil:
		if !sameFile(&st, dev, ino) {
			return nil, st, ErrReplaced
		}
	case errors.Is(err, errNoDiag):
		if int(st.Uid) != os.Geteuid() || st.Nlink != 1 {
			return nil, st, fmt.Errorf("%w (socket of uid %d with %d links; %v)", ErrReplaced, st.Uid, st.Nlink, err)
		}
	default:
		return nil, st, fmt.Errorf("%w (%w)", ErrReplaced, err)
	}
	return f, st, nil
}

// Chmod sets the permission bits (with setuid, setgid and sticky) of the
// file that f, from Bound, holds open.
func Chmod(f *os.File, mode uint32) error {
	return unix.Fchmodat(unix.AT_FDCWD, procFD(int(f.Fd())), mode, 0)
}

// Chown sets the owner of the file that f, from Bound, holds open; -1
// leaves uid or gid as it is.
func Chown(f *os.File, uid, gid int) error {
	return unix.Fchownat(int(f.Fd()), "", uid, gid, unix.AT_EMPTY_PATH)
}

// procFD names the file that fd holds open; opening or changing it acts on
// that inode, whatever path it was opened by.
func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// Of returns the ID of a stat result.
func Of(st *unix.Stat_t) ID { return ID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} }
