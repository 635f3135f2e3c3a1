package reexec

import (
	"bufio"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// GuardianName is argv[0] of the guardian: a small process that zedr-run
// starts beside its children. zedr-run tells it, on the guardian's stdin,
// the process group of every generation ("+PGID", "-PGID" once gone). If
// stdin reaches end of file without a final "exit" line, zedr-run died
// without cleaning up (SIGKILL, a crash): the guardian then kills every
// group it was told of, so no grandchild (nginx's or gunicorn's workers)
// lingers holding a socket. The child itself dies with zedr-run by its
// parent-death signal; its own children have none. Lines FileLine name the
// unix socket files zedr-run created (--listen, the control socket): the
// guardian removes them too, once the groups are killed, but only a file
// that is still the socket zedr-run created (see guardian_files.go).
const GuardianName = "zedr-run-guardian"

// GuardianExit is the line zedr-run writes when it exits normally.
const GuardianExit = "exit"

func guardian() int {
	// Signals meant for zedr-run's terminal or service do not stop the
	// guardian: it must outlive zedr-run to do its job.
	signal.Ignore(unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGPIPE)
	groups := map[int]bool{}
	var files []guardFile
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == GuardianExit {
			return 0
		}
		if len(line) < 2 {
			continue
		}
		if f, ok := parseFileLine(line); ok {
			files = append(files, f)
			continue
		}
		pgid, err := strconv.Atoi(line[1:])
		if err != nil || pgid <= 1 {
			continue
		}
		switch line[0] {
		case '+':
			groups[pgid] = true
		case '-':
			delete(groups, pgid)
		}
	}
	for pgid := range groups {
		unix.Kill(-pgid, unix.SIGKILL)
	}
	for _, f := range files {
		f.remove()
	}
	return 0
}
