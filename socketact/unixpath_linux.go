package socketact

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sockfile"
)

// clearStale makes room for binding a unix socket at path: nothing there is
// fine; a socket that refuses connections is stale and removed; a socket
// that someone serves is EADDRINUSE; any other file is ErrNotSocket and
// stays. It returns the failed operation with the error.
//
// The socket is removed only after sockfile.Remove has moved it out of
// reach and it is still the inode probed here and still refuses a
// connection there; a file swapped in meanwhile goes back untouched, and
// bind then reports EADDRINUSE.
func clearStale(path string, sotype int) (string, error) {
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	if errors.Is(err, unix.ENOENT) {
		return "", nil // bind reports a missing directory with the address
	}
	if err != nil {
		return "lstat", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return "bind", fmt.Errorf("%w (%s, left in place)", ErrNotSocket, fileKind(st.Mode))
	}
	live, err := socketLive(path, sotype)
	if err != nil {
		return "connect", err
	}
	if live {
		return "bind", unix.EADDRINUSE
	}
	probed := sockfile.Of(&st)
	_, err = sockfile.Remove(path, func(now *unix.Stat_t, at string) bool {
		if sockfile.Of(now) != probed {
			return false
		}
		live, err := socketLive(at, sotype)
		return err == nil && !live
	})
	if err != nil {
		return "remove stale socket", err
	}
	return "", nil // whatever Remove left in place makes bind fail
}

// socketLive reports whether something serves the unix socket at path. The
// connect is non-blocking, so a full accept queue (EAGAIN) counts as served
// rather than hanging; a socket of another type (EPROTOTYPE) is served too.
func socketLive(path string, sotype int) (bool, error) {
	fd, err := unix.Socket(unix.AF_UNIX, sotype|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	switch {
	case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.EPROTOTYPE):
		return true, nil
	case errors.Is(err, unix.ECONNREFUSED):
		return false, nil
	}
	return false, err
}

// fileKind names the file type in a raw st_mode.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFIFO:
		return "named pipe"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	}
	return fmt.Sprintf("file of mode %#o", mode)
}
