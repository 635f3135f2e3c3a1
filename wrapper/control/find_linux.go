package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What Find did not find; its errors match one of these with errors.Is,
// and say more.
var (
	ErrNoneRunning = errors.New("no running zedr-run found")              // pid 0: none of this user's
	ErrSeveral     = errors.New("several zedr-run instances are running") // pid 0: more than one
	ErrNoProcess   = errors.New("no such process")                        // pid: no process
	ErrNotFound    = errors.New("no control socket found")                // pid: no socket of it
)

// findError is a Find failure: its own message, matching kind.
type findError struct {
	kind error
	msg  string
}

func (e *findError) Error() string        { return e.msg }
func (e *findError) Is(target error) bool { return target == e.kind }

// Find finds the control socket of a running zedr-run: that of pid when pid
// is not 0, otherwise the only one of this user's, looking in Dirs. When
// pid has no socket there, declared (if not nil) says the path that process
// was told to use, or ""; a relative one is taken from the process's
// working directory, and used only if it is pid's live socket.
//
// When there is none, or several, the error says so plainly and matches
// ErrNoneRunning, ErrSeveral, ErrNoProcess or ErrNotFound.
func Find(pid int, declared func(pid int) string) (string, error) {
	return findIn(Dirs(), pid, declared)
}

func findIn(dirs []string, pid int, declared func(int) string) (string, error) {
	where := strings.Join(dirs, ", ")
	if pid != 0 {
		for _, dir := range dirs {
			path := filepath.Join(dir, strconv.Itoa(pid)+".sock")
			if _, err := os.Lstat(path); err == nil {
				return path, nil
			}
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			return "", &findError{ErrNoProcess, fmt.Sprintf("no process pid=%d", pid)}
		}
		if path := declaredPath(pid, declared); path != "" {
			return path, nil
		}
		return "", &findError{ErrNotFound, fmt.Sprintf("no control socket of pid=%d in %s: is it a zedr-run?", pid, where)}
	}
	type found struct {
		pid  int
		path string
	}
	var all []found
	seen := map[int]bool{}
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".sock")
			p, err := strconv.Atoi(name)
			if !ok || err != nil || seen[p] {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if !live(path, p) {
				continue
			}
			seen[p] = true
			all = append(all, found{p, path})
		}
	}
	switch len(all) {
	case 0:
		return "", &findError{ErrNoneRunning, fmt.Sprintf("no running zedr-run of uid %d found (looked in %s)", os.Getuid(), where)}
	case 1:
		return all[0].path, nil
	}
	sort.Slice(all, func(i, j int) bool { return all[i].pid < all[j].pid })
	var list []string
	for _, f := range all {
		list = append(list, fmt.Sprintf("pid=%d (%s)", f.pid, f.path))
	}
	return "", &findError{ErrSeveral, fmt.Sprintf("%d zedr-run instances of uid %d are running: %s", len(all), os.Getuid(), strings.Join(list, ", "))}
}

// declaredPath is the path declared names for pid, made absolute against
// pid's working directory, if it is pid's live control socket; else "".
func declaredPath(pid int, declared func(int) string) string {
	if declared == nil {
		return ""
	}
	path := declared(pid)
	if path == "" {
		return ""
	}
	if !filepath.IsAbs(path) {
		cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
		if err != nil {
			return ""
		}
		path = filepath.Join(cwd, path)
	}
	if !live(path, pid) {
		return ""
	}
	return path
}

// live reports whether path is a socket of ours whose process pid still
// runs and accepts connections.
func live(path string, pid int) bool {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
