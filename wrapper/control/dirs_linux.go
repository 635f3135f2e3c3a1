package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dirs are the directories where control sockets are created and looked
// for, in order: $XDG_RUNTIME_DIR/zedr-run, /run/zedr-run, and a directory
// of this user's under os.TempDir() for when neither is writable.
func Dirs() []string {
	var dirs []string
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" && filepath.IsAbs(xdg) {
		dirs = append(dirs, filepath.Join(xdg, "zedr-run"))
	}
	dirs = append(dirs, "/run/zedr-run")
	return append(dirs, filepath.Join(os.TempDir(), "zedr-run-"+strconv.Itoa(os.Getuid())))
}

// PathFor returns the default control socket path of zedr-run process pid,
// "DIR/PID.sock" in the first of Dirs that can be created and written,
// creating that directory (mode 0700) if need be. It removes the stale
// control sockets of dead zedr-run processes of our uid found there (see
// sweep) and returns how many.
func PathFor(pid int) (path string, swept int, err error) {
	return pathIn(Dirs(), pid)
}

func pathIn(dirs []string, pid int) (string, int, error) {
	var errs []error
	for _, dir := range dirs {
		if err := ownDir(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		return filepath.Join(dir, strconv.Itoa(pid)+".sock"), sweep(dir), nil
	}
	return "", 0, fmt.Errorf("no directory for the control socket: %w", errors.Join(errs...))
}

// ownDir makes sure dir exists, is a directory (not a symlink) and can be
// written by us; one under os.TempDir() must also belong to us.
func ownDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && strings.HasPrefix(dir, os.TempDir()) && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s: belongs to uid %d, not to us", dir, st.Uid)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}
