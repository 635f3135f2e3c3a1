package reexec

import (
	"bufio"
	"os"
	"os/signal"
	"strconv"

	"golang.org/x/sys/unix"
)

// GuardName is argv[0] of the guard: a process that kills what is left of
// zedr-run's children when zedr-run itself dies, even by SIGKILL.
//
// The parent-death signal reaches only the process zedr-run started, not its
// own children (nginx's workers), which would go on serving on the socket.
// The guard reads "+PGID" and "-PGID" lines on stdin, from zedr-run, for
// each process group it starts and sees end; at end of file (zedr-run is
// gone) it sends SIGKILL to every group still listed and exits.
const GuardName = "zedr-run-guard"

func runGuard() int {
	// It must outlive zedr-run; terminal signals meant for zedr-run
	// (Ctrl-C reaches the whole foreground group) are not for it.
	signal.Ignore(unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGPIPE)
	groups := map[int]bool{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 2 {
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
	return 0
}
