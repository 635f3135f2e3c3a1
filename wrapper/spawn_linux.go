package wrapper

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// spawnRequest asks the spawner thread to fork and exec one process.
type spawnRequest struct {
	path  string
	argv  []string
	attr  *syscall.ProcAttr
	reply chan spawnResult
}

type spawnResult struct {
	pid int
	err error
}

var (
	spawnOnce sync.Once
	spawnReqs chan spawnRequest
)

// spawn starts a process from the spawner thread. Every process zedr-run
// starts goes through here, so that its parent-death signal is tied to a
// thread that lives as long as zedr-run (go.dev/issue/27505: the signal
// follows the thread that forked, and Go may end threads it no longer needs).
func spawn(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnRequest)
		go spawnLoop(spawnReqs)
	})
	reply := make(chan spawnResult, 1)
	spawnReqs <- spawnRequest{path, argv, attr, reply}
	r := <-reply
	return r.pid, r.err
}

// spawnLoop never returns and never unlocks its thread: a locked goroutine
// that ended would take its thread with it, and every child would get its
// parent-death signal.
func spawnLoop(reqs <-chan spawnRequest) {
	runtime.LockOSThread()
	for r := range reqs {
		pid, err := syscall.ForkExec(r.path, r.argv, r.attr)
		r.reply <- spawnResult{pid, err}
	}
	select {}
}

// exit is one process collected by the reaper.
type exit struct {
	pid    int
	status syscall.WaitStatus
}

// reap collects every child of zedr-run, its own and orphans reparented to
// it, and hands each to post. It returns when done is closed.
func reap(done <-chan struct{}, post func(exit)) {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	defer signal.Stop(sigchld)
	for {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if pid <= 0 || err != nil {
				break
			}
			post(exit{pid, ws})
		}
		select {
		case <-sigchld:
		case <-done:
			return
		}
	}
}

// groupAlive reports whether any process is left in process group pgid.
func groupAlive(pgid int) bool {
	err := unix.Kill(-pgid, 0)
	return err == nil || err == unix.EPERM
}

// exitCode maps a wait status to the code a shell would show: the exit
// status, or 128+N for a process killed by signal N.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// describe says how a process ended, for logs: "exit status 3",
// "killed by SIGKILL".
func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return "exit status " + itoa(ws.ExitStatus())
}
