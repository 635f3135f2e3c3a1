package reexec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sockfile"
)

// The guardian's lines that name a unix socket file zedr-run created, to be
// removed once zedr-run is gone:
//
//	socket-file dev=DEV ino=INO path="PATH"
//
// names the file by its device and inode, recorded when zedr-run created
// it: the guardian removes the file at PATH only if it is still that socket,
// so a socket that another process (another zedr-run) has put at PATH since
// stays. PATH is quoted as Go quotes strings, so any byte fits on the line.
// A guardian older than this format ignores such lines (they are neither
// "@", "+" nor "-").
//
//	@PATH
//
// is the older form, written by zedr-run before the format above. Without
// an inode to check, the guardian removes such a socket only if nobody
// serves it (connect is refused), never a file of another kind.
const fileLinePrefix = "socket-file "

// fileLine is the guardian's line for the unix socket file at path with
// device dev and inode ino.
func fileLine(dev, ino uint64, path string) string {
	return fmt.Sprintf("%sdev=%d ino=%d path=%s", fileLinePrefix, dev, ino, strconv.Quote(path))
}

// guardFile is a socket file the guardian removes.
type guardFile struct {
	path string
	id   sockfile.ID
	old  bool // from an "@PATH" line: no inode known
}

// parseFileLine reads a fileLine or an "@PATH" line.
func parseFileLine(line string) (guardFile, bool) {
	if path, ok := strings.CutPrefix(line, "@"); ok {
		return guardFile{path: path, old: true}, path != ""
	}
	rest, ok := strings.CutPrefix(line, fileLinePrefix)
	if !ok {
		return guardFile{}, false
	}
	f := strings.SplitN(rest, " ", 3)
	if len(f) != 3 {
		return guardFile{}, false
	}
	dev, ok1 := strings.CutPrefix(f[0], "dev=")
	ino, ok2 := strings.CutPrefix(f[1], "ino=")
	quoted, ok3 := strings.CutPrefix(f[2], "path=")
	var g guardFile
	var err1, err2, err3 error
	g.id.Dev, err1 = strconv.ParseUint(dev, 10, 64)
	g.id.Ino, err2 = strconv.ParseUint(ino, 10, 64)
	g.path, err3 = strconv.Unquote(quoted)
	if !ok1 || !ok2 || !ok3 || errors.Join(err1, err2, err3) != nil || g.path == "" {
		return guardFile{}, false
	}
	return g, true
}

// remove removes the file if it is still the socket zedr-run created (or,
// for an old line, a socket nobody serves).
func (g guardFile) remove() {
	sockfile.Remove(g.path, func(st *unix.Stat_t, at string) bool {
		if !g.old {
			return sockfile.Of(st) == g.id
		}
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return false
		}
		defer unix.Close(fd)
		// Refused whatever the socket type: nothing is bound to it.
		return errors.Is(unix.Connect(fd, &unix.SockaddrUnix{Name: at}), unix.ECONNREFUSED)
	})
}
