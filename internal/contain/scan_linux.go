package contain

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SocketInode is the inode of the socket open at fd: /proc/PID/fd shows
// every descriptor of that socket, in any process, as "socket:[INODE]".
func SocketInode(fd uintptr) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return 0, fmt.Errorf("stat fd %d: %w", fd, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0, fmt.Errorf("fd %d is not a socket", fd)
	}
	return st.Ino, nil
}

// Holders lists the processes that have one of the sockets inodes open,
// by reading /proc/PID/fd of every process. Processes that end, or whose
// descriptors cannot be read, during the scan are left out.
func Holders(inodes map[uint64]bool) ([]int, error) {
	if len(inodes) == 0 {
		return nil, nil
	}
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	var pids []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		if holds(pid, inodes) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// holds reports whether pid has a descriptor open on one of inodes.
func holds(pid int, inodes map[uint64]bool) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		target, err := os.Readlink(dir + fd.Name())
		if err != nil {
			continue
		}
		ino, ok := strings.CutPrefix(target, "socket:[")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(ino, "]"), 10, 64)
		if err == nil && inodes[n] {
			return true
		}
	}
	return false
}

// Stat is what zedr-run needs of /proc/PID/stat.
type Stat struct {
	PID, PPID, PGID, SID int
	State                byte // R, S, D, Z, ...
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return parseStat(pid, b)
}

func parseStat(pid int, b []byte) (Stat, error) {
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after the last ')' are fixed: state ppid pgrp session ...
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	st := Stat{PID: pid, State: f[0][0]}
	var err error
	for j, p := range []*int{&st.PPID, &st.PGID, &st.SID} {
		if *p, err = strconv.Atoi(f[j+1]); err != nil {
			return Stat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
		}
	}
	return st, nil
}

// ReadUIDs reads the real and effective uid of pid from /proc/PID/status.
func ReadUIDs(pid int) (ruid, euid int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	return parseUIDs(pid, b)
}

func parseUIDs(pid int, b []byte) (ruid, euid int, err error) {
	for _, line := range strings.Split(string(b), "\n") {
		key, val, _ := strings.Cut(line, ":")
		if key != "Uid" {
			continue
		}
		f := strings.Fields(val)
		if len(f) >= 2 {
			ruid, err1 := strconv.Atoi(f[0])
			euid, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				return ruid, euid, nil
			}
		}
		break
	}
	return 0, 0, fmt.Errorf("/proc/%d/status: no readable Uid line", pid)
}

// maxDepth bounds walks up the process tree.
const maxDepth = 64

// Ancestors lists pid and its ancestors up to, not including, pid 1
// (which the caller protects anyway) or the first one that cannot be read.
func Ancestors(pid int) []int {
	var out []int
	for range maxDepth {
		if pid <= 1 {
			break
		}
		out = append(out, pid)
		st, err := ReadStat(pid)
		if err != nil {
			break
		}
		pid = st.PPID
	}
	return out
}

// maxEnviron bounds what is read of a process's environment.
const maxEnviron = 1 << 20

// Environ reads the environment pid was started with (/proc/PID/environ).
// The process may have changed it since, or lie: it is only ever used to
// decide about that process itself.
func Environ(pid int) ([]string, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEnviron))
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range bytes.Split(b, []byte{0}) {
		if len(kv) > 0 {
			env = append(env, string(kv))
		}
	}
	return env, nil
}

// Getenv returns the value of key in env: the first one, as getenv(3) does.
func Getenv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// maxRounds bounds the scans of SignalRounds.
const maxRounds = 10

// SignalRounds sends sig to every process find lists, then asks again
// while it lists one not yet signalled: a child forked before its parent
// got the signal shows up in the next round, and a process that got
// SIGKILL forks no more. It returns the processes signalled.
func SignalRounds(find func() []int, sig unix.Signal) []int {
	done := map[int]bool{}
	var all []int
	for range maxRounds {
		fresh := 0
		for _, pid := range find() {
			if done[pid] || pid <= 1 {
				continue
			}
			done[pid] = true
			all = append(all, pid)
			unix.Kill(pid, sig)
			fresh++
		}
		if fresh == 0 {
			break
		}
	}
	return all
}
