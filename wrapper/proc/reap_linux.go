package proc

import (
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exit is one process collected by the reaper.
type Exit struct {
	PID    int
	Status syscall.WaitStatus
}

// Reap collects every child of zedr-run, its own and orphans reparented to
// it, and hands them to post, a batch at a time. It returns when done is
// closed.
func Reap(done <-chan struct{}, post func([]Exit)) {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	defer signal.Stop(sigchld)
	for {
		var exits []Exit
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if pid <= 0 || err != nil {
				break
			}
			exits = append(exits, Exit{pid, ws})
		}
		if len(exits) > 0 {
			post(exits)
		}
		select {
		case <-sigchld:
		case <-done:
			return
		}
	}
}

// GroupAlive reports whether any process is left in process group pgid.
func GroupAlive(pgid int) bool {
	err := unix.Kill(-pgid, 0)
	return err == nil || err == unix.EPERM
}

// ExitCode maps a wait status to the code a shell would show: the exit
// status, or 128+N for a process killed by signal N.
func ExitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Describe says how a process ended, for logs: "exit status 3",
// "killed by SIGKILL".
func Describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}
