package socketact

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clearStale makes room for binding a unix socket at path: nothing there is
// fine; a socket that refuses connections is stale and removed; a socket
// that someone serves is EADDRINUSE; any other file is ErrNotSocket and
// stays. It returns the failed operation with the error.
func clearStale(path string, sotype int) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil // bind reports a missing directory with the address
	}
	if err != nil {
		return "lstat", unwrapPath(err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return "bind", fmt.Errorf("%w (%s, left in place)", ErrNotSocket, fileKind(fi.Mode()))
	}
	live, err := socketLive(path, sotype)
	if err != nil {
		return "connect", err
	}
	if live {
		return "bind", unix.EADDRINUSE
	}
	// Remove only the socket we probed, not one that took its place since.
	if now, err := os.Lstat(path); err != nil || !os.SameFile(now, fi) {
		return "bind", unix.EADDRINUSE
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "remove stale socket", unwrapPath(err)
	}
	return "", nil
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

func fileKind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symbolic link"
	case fs.ModeNamedPipe:
		return "named pipe"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "device"
	}
	return "file of mode " + m.String()
}

// lookupOwner resolves USER[:GROUP] (names or numeric ids) to the uid and gid
// for chown; -1 leaves one unchanged.
func lookupOwner(owner string) (uid, gid int, err error) {
	userName, groupName, _ := strings.Cut(owner, ":")
	uid, gid = -1, -1
	if userName != "" {
		id := userName
		if u, err := user.Lookup(userName); err == nil {
			id = u.Uid
		} else if _, nerr := strconv.Atoi(userName); nerr != nil {
			return 0, 0, err
		}
		if uid, err = strconv.Atoi(id); err != nil {
			return 0, 0, fmt.Errorf("user %q: uid %q: %w", userName, id, err)
		}
	}
	if groupName != "" {
		id := groupName
		if g, err := user.LookupGroup(groupName); err == nil {
			id = g.Gid
		} else if _, nerr := strconv.Atoi(groupName); nerr != nil {
			return 0, 0, err
		}
		if gid, err = strconv.Atoi(id); err != nil {
			return 0, 0, fmt.Errorf("group %q: gid %q: %w", groupName, id, err)
		}
	}
	return uid, gid, nil
}
