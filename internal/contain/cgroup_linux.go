package contain

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Tree is the cgroup v2 subtree zedr-run creates for its workers: Dir holds
// no process itself, only a leaf per worker.
type Tree struct {
	Dir string
}

// ErrNoCgroup wraps every reason the cgroup mechanism cannot be used.
var ErrNoCgroup = errors.New("no usable cgroup v2")

// cgroupKill is the file that kills a cgroup and all its descendants
// (Linux >= 5.14); cgroupEvents says whether any process is left in it.
const (
	cgroupKill   = "cgroup.kill"
	cgroupEvents = "cgroup.events"
	cgroupProcs  = "cgroup.procs"
)

// maxTrees bounds the names CreateTree tries.
const maxTrees = 100

// CreateTree creates a new subtree in the calling process's own cgroup v2,
// named prefix or, when that is taken (another process with the same pid
// in another pid namespace, or a dead one), prefix-2, prefix-3, ..., after
// checking that the kernel can start a process inside it and kill it
// whole. It never touches an existing directory. Every failure wraps
// ErrNoCgroup and says why.
func CreateTree(prefix string) (*Tree, error) {
	own, err := OwnCgroupDir()
	if err != nil {
		return nil, err
	}
	if err := checkDelegated(own); err != nil {
		return nil, err
	}
	if err := probeClone3(); err != nil {
		return nil, err
	}
	for i := 1; i <= maxTrees; i++ {
		t := &Tree{Dir: filepath.Join(own, prefix)}
		if i > 1 {
			t.Dir += "-" + strconv.Itoa(i)
		}
		err := os.Mkdir(t.Dir, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: create %s: %v", ErrNoCgroup, t.Dir, err)
		}
		if _, err := os.Stat(filepath.Join(t.Dir, cgroupKill)); err != nil {
			os.Remove(t.Dir)
			return nil, fmt.Errorf("%w: %s has no %s (Linux 5.14 or later needed)", ErrNoCgroup, t.Dir, cgroupKill)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: %s to %s-%d are all taken in %s", ErrNoCgroup, prefix, prefix, maxTrees, own)
}

// ReuseTree takes over the subtree at dir that an earlier process created
// (a zedr-run that exec'd this one in its place).
func ReuseTree(dir string) (*Tree, error) {
	if err := probeClone3(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, cgroupKill)); err != nil {
		return nil, fmt.Errorf("%w: the cgroup handed over: %v", ErrNoCgroup, err)
	}
	return &Tree{Dir: dir}, nil
}

// Leaf creates the leaf cgroup name in the tree (an existing one is fine)
// and returns its path and a descriptor for clone3's CLONE_INTO_CGROUP
// (syscall.SysProcAttr.CgroupFD), which the caller closes.
func (t *Tree) Leaf(name string) (string, int, error) {
	path := filepath.Join(t.Dir, name)
	if err := os.Mkdir(path, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", -1, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", -1, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	return path, fd, nil
}

// Leaves lists the leaf cgroups of the tree by name.
func (t *Tree) Leaves() []string {
	ents, _ := os.ReadDir(t.Dir)
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// Remove kills whatever is left in the tree, waits a little for it to go
// and removes the leaves and the tree. It reports the first directory it
// could not remove.
func (t *Tree) Remove() error {
	var first error
	for _, name := range t.Leaves() {
		if err := RemoveCgroup(filepath.Join(t.Dir, name)); err != nil && first == nil {
			first = err
		}
	}
	if err := RemoveCgroup(t.Dir); err != nil && first == nil {
		first = err
	}
	return first
}

// removeWait bounds how long RemoveCgroup waits for killed processes to
// leave a cgroup: dying takes the kernel milliseconds.
const removeWait = 2 * time.Second

// RemoveCgroup removes a cgroup with no child cgroups, killing what is
// left in it first. A cgroup that is already gone is no error.
func RemoveCgroup(path string) error {
	deadline := time.Now().Add(removeWait)
	for {
		err := unix.Rmdir(path)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", path, err)
		}
		Kill(path)
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill kills every process in the cgroup at path and in its descendants
// with SIGKILL, atomically (cgroup.kill): none escapes by forking.
func Kill(path string) error {
	if err := os.WriteFile(filepath.Join(path, cgroupKill), []byte("1"), 0); err != nil {
		return fmt.Errorf("kill cgroup %s: %w", path, err)
	}
	return nil
}

// Signal sends sig to every process in the cgroup at path (not its
// descendants). A process forked meanwhile may miss it; Kill misses none.
func Signal(path string, sig syscall.Signal) error {
	pids, err := Procs(path)
	for _, pid := range pids {
		unix.Kill(pid, sig)
	}
	return err
}

// Procs lists the processes in the cgroup at path.
func Procs(path string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(path, cgroupProcs))
	if err != nil {
		return nil, fmt.Errorf("list cgroup %s: %w", path, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Populated reports whether any process is left in the cgroup at path or
// its descendants. A cgroup that does not exist is not populated.
func Populated(path string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(path, cgroupEvents))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read cgroup %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "populated "); ok {
			return v != "0", nil
		}
	}
	return false, fmt.Errorf("read cgroup %s: no populated line in %s", path, cgroupEvents)
}

// OwnCgroupDir is the directory of the calling process's cgroup v2: the
// cgroup2 mount from /proc/self/mountinfo joined with the "0::PATH" entry
// of /proc/self/cgroup.
func OwnCgroupDir() (string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	return cgroupDir(string(mi), string(cg))
}

// cgroupDir finds the unified cgroup's directory from the texts of
// /proc/self/mountinfo and /proc/self/cgroup.
func cgroupDir(mountinfo, cgroup string) (string, error) {
	path := ""
	for _, line := range strings.Split(cgroup, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return "", fmt.Errorf("%w: no cgroup v2 entry (0::) in /proc/self/cgroup", ErrNoCgroup)
	}
	for _, line := range strings.Split(mountinfo, "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		f := strings.Fields(pre)
		if len(f) < 5 {
			continue
		}
		root, mnt := unescape(f[3]), unescape(f[4])
		rel, ok := strings.CutPrefix(path, root)
		if !ok || (rel != "" && root != "/" && rel[0] != '/') {
			continue // our cgroup is not under this mount's root
		}
		return filepath.Join(mnt, rel), nil
	}
	return "", fmt.Errorf("%w: no cgroup2 mount that shows %s in /proc/self/mountinfo", ErrNoCgroup, path)
}

// unescape undoes mountinfo's octal escapes of space, tab, newline and '\'.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkDelegated refuses a systemd unit's cgroup that systemd did not
// delegate (Delegate=yes marks it with the xattr trusted.delegate or, for a
// user manager, user.delegate): systemd owns the cgroups of its other units
// and may move or remove what others create there.
func checkDelegated(dir string) error {
	base := filepath.Base(dir)
	if !strings.HasSuffix(base, ".service") && !strings.HasSuffix(base, ".scope") && !strings.HasSuffix(base, ".slice") {
		return nil
	}
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.delegate", "user.delegate"} {
		if n, err := unix.Getxattr(dir, attr, buf); err == nil && string(buf[:n]) == "1" {
			return nil
		}
	}
	return fmt.Errorf("%w: %s belongs to systemd and is not delegated (set Delegate=yes on the unit)", ErrNoCgroup, dir)
}

// probeClone3 checks that clone3 can be called at all: old kernels lack it
// and some seccomp profiles (older container runtimes) make it fail with
// ENOSYS. An empty argument struct is refused with EINVAL by a kernel that
// has it, without creating anything.
func probeClone3() error {
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	if errno == unix.EINVAL {
		return nil
	}
	return fmt.Errorf("%w: clone3 is not available (%v): Linux 5.7 or later without a seccomp filter that blocks it needed", ErrNoCgroup, errno)
}
