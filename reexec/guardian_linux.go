package reexec

import (
	"bufio"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"zedr-run/internal/contain"
)

// GuardianName is argv[0] of the guardian: a small process that zedr-run
// starts beside its children. zedr-run tells it, on the guardian's stdin,
// the process group of every generation ("+PGID", "-PGID" once gone). If
// stdin reaches end of file without a final "exit" line, zedr-run died
// without cleaning up (SIGKILL, a crash): the guardian then kills every
// group it was told of, so no grandchild (nginx's or gunicorn's workers)
// lingers holding a socket. The child itself dies with zedr-run by its
// parent-death signal; its own children have none. File lines name the
// unix socket files zedr-run created (--listen, the control socket): the
// guardian removes them too, once the groups are killed, but only a file
// that is still the socket zedr-run created (see guardian_files.go).
//
// A process that left its group (setsid) is caught by the other lines:
//   - "%DIR": zedr-run's cgroup v2 subtree (see package contain): the
//     guardian kills it whole with cgroup.kill and removes its directories.
//   - "#INODE": one of zedr-run's listening sockets, and "&KEY=VALUE": an
//     environment entry every child of zedr-run has (its NOTIFY_SOCKET).
//     The guardian kills every process that still holds one of the sockets
//     and has all those entries in its environment, except itself, pid 1
//     and zedr-run's ancestors as they were when the guardian started (a
//     service manager may hold the sockets in its fd store). Without an
//     "&" line it kills no socket holder: the entries keep it from
//     killing processes of another zedr-run that shares inherited sockets.
//
// zedr-run writes these lines through a Guardian (StartGuardian).
const GuardianName = "zedr-run-guardian"

// guardianExit is the line zedr-run writes when it exits normally.
const guardianExit = "exit"

// Line kinds on the guardian's stdin, besides the file lines (see
// guardian_files.go) and guardianExit. Guardian (guardian_writer.go) writes
// them; readOrders reads them. The format is frozen: a guardian started by
// an older zedr-run outlives a reexec and reads what the new one writes.
const (
	guardAdd    = '+' // +PGID: a process group to kill
	guardRemove = '-' // -PGID: that group is gone
	guardCgroup = '%' // %DIR: a cgroup v2 directory to kill and remove
	guardSocket = '#' // #INODE: a socket whose holders are killed
	guardEnv    = '&' // &KEY=VALUE: what a holder's environment must have
)

// guardOrders is what zedr-run told the guardian before its stdin ended.
type guardOrders struct {
	exit    bool // zedr-run said guardianExit: it cleaned up itself
	groups  map[int]bool
	files   []guardFile
	cgroups []string
	env     []string
	inodes  map[uint64]bool
}

// readOrders reads the guardian's lines until end of file or guardianExit.
// A line it does not understand is skipped, so that an older guardian
// survives a newer zedr-run (after a reexec) that writes more kinds.
func readOrders(r io.Reader) guardOrders {
	o := guardOrders{groups: map[int]bool{}, inodes: map[uint64]bool{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == guardianExit {
			o.exit = true
			return o
		}
		if len(line) < 2 {
			continue
		}
		if f, ok := parseFileLine(line); ok {
			o.files = append(o.files, f)
			continue
		}
		switch line[0] {
		case guardCgroup:
			o.cgroups = append(o.cgroups, line[1:])
			continue
		case guardEnv:
			o.env = append(o.env, line[1:])
			continue
		case guardSocket:
			if ino, err := strconv.ParseUint(line[1:], 10, 64); err == nil {
				o.inodes[ino] = true
			}
			continue
		}
		pgid, err := strconv.Atoi(line[1:])
		if err != nil || pgid <= 1 {
			continue
		}
		switch line[0] {
		case guardAdd:
			o.groups[pgid] = true
		case guardRemove:
			delete(o.groups, pgid)
		}
	}
	return o
}

func guardian() int {
	// Signals meant for zedr-run's terminal or service do not stop the
	// guardian: it must outlive zedr-run to do its job.
	signal.Ignore(unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGPIPE)
	// zedr-run (our parent) and its ancestors, now, while zedr-run lives.
	protected := map[int]bool{1: true, os.Getpid(): true}
	for _, pid := range contain.Ancestors(os.Getppid()) {
		protected[pid] = true
	}
	o := readOrders(os.Stdin)
	if o.exit {
		return 0
	}
	for _, dir := range o.cgroups {
		contain.Kill(dir)
	}
	for pgid := range o.groups {
		unix.Kill(-pgid, unix.SIGKILL)
	}
	if len(o.env) > 0 {
		contain.SignalRounds(func() []int { return holders(o.inodes, o.env, protected) }, unix.SIGKILL)
	}
	for _, f := range o.files {
		f.remove()
	}
	for _, dir := range o.cgroups {
		(&contain.Tree{Dir: dir}).Remove()
	}
	return 0
}

// holders lists the processes that hold one of inodes, carry every entry
// of env and are not protected.
func holders(inodes map[uint64]bool, env []string, protected map[int]bool) []int {
	pids, _ := contain.Holders(inodes)
	var out []int
	for _, pid := range pids {
		if protected[pid] {
			continue
		}
		have, err := contain.Environ(pid)
		if err != nil || !hasAll(have, env) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

func hasAll(env, want []string) bool {
	for _, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		if got, ok := contain.Getenv(env, k); !ok || got != v {
			return false
		}
	}
	return true
}
