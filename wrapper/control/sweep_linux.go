package control

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sockfile"
)

// sweep removes the control sockets that dead zedr-run processes of our
// uid left in dir, one of Dirs (zedr-run killed before its guardian
// removed them, or one older than that guardian): an entry PID.sock whose
// PID is no process, that is a socket owned by our uid and that refuses a
// connection. Each is checked after sockfile.Remove has moved it out of
// reach, so nothing swapped in meanwhile is removed, and no symbolic link
// is followed. It returns how many it removed.
func sweep(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sock")
		pid, err := strconv.Atoi(name)
		if !ok || err != nil || pid <= 0 || e.Type() != fs.ModeSocket {
			continue
		}
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			continue // alive (or not ours to signal): not stale
		}
		removed, _ := sockfile.Remove(filepath.Join(dir, e.Name()), func(st *unix.Stat_t, at string) bool {
			return int(st.Uid) == os.Getuid() && refused(at)
		})
		if removed {
			n++
		}
	}
	return n
}

// refused reports whether connecting to the unix socket at path is refused:
// nothing is bound to it any more, whatever its type.
func refused(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return errors.Is(unix.Connect(fd, &unix.SockaddrUnix{Name: path}), unix.ECONNREFUSED)
}
