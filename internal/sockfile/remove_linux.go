package sockfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Remove removes the socket file at path if remove, shown the file, says
// so. It first moves whatever is at path into a private directory (mode
// 0700, created in the same parent directory and opened by descriptor), so
// that nobody can swap it from then on, and calls remove with the moved
// file's stat and a path through which it can be connected to (under
// /proc/self/fd). A file that is not a socket, or that remove refuses, is
// renamed back with RENAME_NOREPLACE. Remove never follows a symbolic link
// at path and never unlinks anything but the file remove approved.
//
// It returns true if it removed the file; false with a nil error if there
// was nothing at path, or a file it left there.
func Remove(path string, remove func(st *unix.Stat_t, connectPath string) bool) (bool, error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if name == "" || name == "." || name == ".." {
		return false, fmt.Errorf("remove %s: not a file name", path)
	}
	dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("remove %s: open directory: %w", path, err)
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("remove %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return false, nil
	}
	priv, privfd, err := privateDir(dirfd)
	if err != nil {
		return false, fmt.Errorf("remove %s: %w", path, err)
	}
	defer func() {
		var now unix.Stat_t
		var own unix.Stat_t
		// Only our own directory, and only if it is empty: rmdir fails otherwise.
		if unix.Fstat(privfd, &own) == nil && unix.Fstatat(dirfd, priv, &now, unix.AT_SYMLINK_NOFOLLOW) == nil && Of(&own) == Of(&now) {
			unix.Unlinkat(dirfd, priv, unix.AT_REMOVEDIR)
		}
		unix.Close(privfd)
	}()
	const moved = "socket"
	if err := unix.Renameat2(dirfd, name, privfd, moved, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("remove %s: move it aside: %w", path, err)
	}
	if err := unix.Fstatat(privfd, moved, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil &&
		st.Mode&unix.S_IFMT == unix.S_IFSOCK && remove(&st, procFD(privfd)+"/"+moved) {
		if err := unix.Unlinkat(privfd, moved, 0); err != nil {
			return false, fmt.Errorf("remove %s: %w", path, err)
		}
		return true, nil
	}
	if err := unix.Renameat2(privfd, moved, dirfd, name, unix.RENAME_NOREPLACE); err != nil {
		return false, fmt.Errorf("remove %s: put back the file it will not remove: %w; it is now %s", path, err, filepath.Join(dir, priv, moved))
	}
	return false, nil
}

// privateDir creates a directory of mode 0700 in dirfd with a name nobody
// can guess and opens it; it checks that what it opened is that directory
// and ours, since the parent may be writable by others.
func privateDir(dirfd int) (string, int, error) {
	b := make([]byte, 8)
	rand.Read(b)
	name := ".zedr-run-rm-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
	if err := unix.Mkdirat(dirfd, name, 0o700); err != nil {
		return "", -1, fmt.Errorf("make a private directory beside it: %w", err)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", -1, fmt.Errorf("open the private directory %s: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0 {
		unix.Close(fd)
		return "", -1, fmt.Errorf("the private directory %s was replaced", name)
	}
	return name, fd, nil
}
