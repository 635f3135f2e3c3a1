package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Looking at processes and files from outside: /proc, pids, inodes.

// waitFile waits until the file holds exactly want.
func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFileExists waits until path exists, whatever it holds.
func waitFileExists(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written within %v", path, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childrenOf lists pid's children (those of all its threads: zedr-run
// starts them from one thread of its own), sorted, waiting until it has two.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("no tasks of pid=%d: %v", pid, err)
		}
		var pids []int
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			for _, f := range strings.Fields(string(b)) {
				var p int
				fmt.Sscan(f, &p)
				pids = append(pids, p)
			}
		}
		sort.Ints(pids)
		if len(pids) >= 2 || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readEnviron(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// childrenButSpare is childrenOf zedr-run pid without its spare shim
// (--spare-shim), a process that changes at every start and reexec.
func childrenButSpare(t *testing.T, pid int) []int {
	t.Helper()
	var out []int
	for _, c := range childrenOf(t, pid) {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(c) + "/cmdline"); err == nil && strings.HasPrefix(string(b), "zedr-run-shim\x00--spare\x00") {
			continue
		}
		out = append(out, c)
	}
	return out
}

// waitChildrenButSpare is childrenButSpare once ok accepts it, or after
// waitLimit: a spare being forked (its cmdline still zedr-run's) or one
// that exited and is not reaped yet (a zombie has no cmdline) is there for
// a few milliseconds only.
func waitChildrenButSpare(t *testing.T, pid int, ok func([]int) bool) []int {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := childrenButSpare(t, pid)
		if ok(got) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// childOf returns the only child of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("pid=%d has children %q, want one", pid, f)
	}
	c, _ := strconv.Atoi(f[0])
	return c
}

// zombiesOf lists the zombie children of pid.
func zombiesOf(pid int) []int {
	var zs []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			zs = append(zs, p)
		}
	}
	return zs
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
