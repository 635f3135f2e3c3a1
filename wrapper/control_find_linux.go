package wrapper

import (
	"bufio"
	"encoding/json"
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

// controlDialTimeout bounds connecting to a control socket and, for every
// request but a waiting restart, the whole exchange.
const controlDialTimeout = 30 * time.Second

// ControlDirs are the directories where control sockets are created and
// looked for, in order: $XDG_RUNTIME_DIR/zedr-run, /run/zedr-run, and a
// directory of this user's under os.TempDir() for when neither is writable.
func ControlDirs() []string {
	var dirs []string
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); xdg != "" && filepath.IsAbs(xdg) {
		dirs = append(dirs, filepath.Join(xdg, "zedr-run"))
	}
	dirs = append(dirs, "/run/zedr-run")
	return append(dirs, filepath.Join(os.TempDir(), "zedr-run-"+strconv.Itoa(os.Getuid())))
}

// ControlPathFor returns the default control socket path of zedr-run
// process pid, "DIR/PID.sock" in the first of ControlDirs that can be
// created and written, creating that directory (mode 0700) if need be. It
// removes the stale control sockets of dead zedr-run processes of our uid
// found there (see sweepControls) and returns how many.
func ControlPathFor(pid int) (string, int, error) {
	var errs []error
	for _, dir := range ControlDirs() {
		if err := ownDir(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		return filepath.Join(dir, strconv.Itoa(pid)+".sock"), sweepControls(dir), nil
	}
	return "", 0, fmt.Errorf("no directory for the control socket (choose a path with --control): %w", errors.Join(errs...))
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

// FindControl finds the control socket of a running zedr-run: that of pid
// when pid is not 0, otherwise the only one of this user's. It says so
// plainly when there is none, or several.
func FindControl(pid int) (string, error) {
	dirs := ControlDirs()
	where := strings.Join(dirs, ", ")
	if pid != 0 {
		for _, dir := range dirs {
			path := filepath.Join(dir, strconv.Itoa(pid)+".sock")
			if _, err := os.Lstat(path); err == nil {
				return path, nil
			}
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			return "", fmt.Errorf("no process pid=%d", pid)
		}
		if path := controlOfProcess(pid); path != "" {
			return path, nil
		}
		return "", fmt.Errorf("no control socket of pid=%d in %s: is it a zedr-run? If it was started with --control PATH, pass the same --control PATH", pid, where)
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
			if !liveControl(path, p) {
				continue
			}
			seen[p] = true
			all = append(all, found{p, path})
		}
	}
	switch len(all) {
	case 0:
		return "", fmt.Errorf("no running zedr-run of uid %d found (looked in %s); name one with --pid PID or --control PATH", os.Getuid(), where)
	case 1:
		return all[0].path, nil
	}
	sort.Slice(all, func(i, j int) bool { return all[i].pid < all[j].pid })
	var list []string
	for _, f := range all {
		list = append(list, fmt.Sprintf("pid=%d (%s)", f.pid, f.path))
	}
	return "", fmt.Errorf("%d zedr-run instances of uid %d are running: %s; choose one with --pid PID or --control PATH", len(all), os.Getuid(), strings.Join(list, ", "))
}

// liveControl reports whether path is a socket of ours whose process pid
// still runs and accepts connections.
func liveControl(path string, pid int) bool {
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

// Control sends req to the zedr-run whose control socket is path and
// returns its answer. A response with OK false is returned as it is, with a
// nil error; the error is for failing to talk to zedr-run at all.
func Control(path string, req ControlRequest) (ControlResponse, error) {
	var resp ControlResponse
	conn, err := net.DialTimeout("unix", path, controlDialTimeout)
	if err != nil {
		return resp, fmt.Errorf("connect to zedr-run's control socket: %w", err)
	}
	defer conn.Close()
	if !(req.Cmd == CmdRestart && req.Wait) {
		conn.SetDeadline(time.Now().Add(controlDialTimeout))
	}
	b, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return resp, fmt.Errorf("send to %s: %w", path, err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return resp, fmt.Errorf("read zedr-run's answer on %s: %w (did it stop?)", path, err)
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return resp, fmt.Errorf("bad answer from %s: %w", path, err)
	}
	return resp, nil
}

// controlOfProcess reads the --control PATH or ZEDR_CONTROL that zedr-run
// pid was started with from /proc, or returns "".
func controlOfProcess(pid int) string {
	proc := "/proc/" + strconv.Itoa(pid)
	var path string
	if b, err := os.ReadFile(proc + "/environ"); err == nil {
		for _, kv := range strings.Split(string(b), "\x00") {
			if v, ok := strings.CutPrefix(kv, "ZEDR_CONTROL="); ok {
				path = v
			}
		}
	}
	if b, err := os.ReadFile(proc + "/cmdline"); err == nil {
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		for i := 1; i < len(args) && args[i] != "--"; i++ {
			a := strings.TrimPrefix(args[i], "-")
			if v, ok := strings.CutPrefix(a, "-control="); ok {
				path = v
			} else if (a == "-control" || a == "control") && i+1 < len(args) {
				path = args[i+1]
			}
		}
	}
	if path == "" {
		return ""
	}
	if !filepath.IsAbs(path) {
		cwd, err := os.Readlink(proc + "/cwd")
		if err != nil {
			return ""
		}
		path = filepath.Join(cwd, path)
	}
	if !liveControl(path, pid) {
		return ""
	}
	return path
}
