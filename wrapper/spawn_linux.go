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
	attr  *syscall.ProcAttr // nil: exec in place of zedr-run, with env
	env   []string
	reply chan spawnResult
}

type spawnResult struct {
	pid int
	err error
}

var (
	spawnOnce  sync.Once
	spawnReqs  = make(chan spawnRequest)
	mainThread bool // ServeSpawns runs the spawner on the main thread
)

// SpawnFromMainThread says that the caller will run ServeSpawns on the main
// thread, locked to it since init. main does this: after a `zedr-run
// reexec`, the children that were handed over are the main thread's, and
// every later exec must come from that same thread, or they get their
// parent-death signal. Call it before anything may start a process.
func SpawnFromMainThread() { mainThread = true }

// ServeSpawns runs the spawner on the calling goroutine, which must be
// locked to its thread for good. It never returns.
func ServeSpawns() { spawnLoop(spawnReqs) }

func startSpawner() {
	spawnOnce.Do(func() {
		if !mainThread {
			go spawnLoop(spawnReqs)
		}
	})
}

// spawn starts a process from the spawner thread. Every process zedr-run
// starts goes through here, so that its parent-death signal is tied to a
// thread that lives as long as zedr-run (go.dev/issue/27505: the signal
// follows the thread that forked, and Go may end threads it no longer needs).
func spawn(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	startSpawner()
	reply := make(chan spawnResult, 1)
	spawnReqs <- spawnRequest{path: path, argv: argv, attr: attr, reply: reply}
	r := <-reply
	return r.pid, r.err
}

// execFromSpawner replaces zedr-run with path, from the spawner thread: the
// children's parent-death signal follows the thread that forked them, and
// execve ends every other thread. It returns only if the exec failed.
func execFromSpawner(path string, argv, env []string) error {
	startSpawner()
	reply := make(chan spawnResult, 1)
	spawnReqs <- spawnRequest{path: path, argv: argv, env: env, reply: reply}
	return (<-reply).err
}

// spawnLoop never returns and never unlocks its thread: a locked goroutine
// that ended would take its thread with it, and every child would get its
// parent-death signal.
func spawnLoop(reqs <-chan spawnRequest) {
	runtime.LockOSThread()
	for r := range reqs {
		if r.attr == nil {
			r.reply <- spawnResult{0, execBlocked(r.path, r.argv, r.env)}
			continue
		}
		pid, err := syscall.ForkExec(r.path, r.argv, r.attr)
		r.reply <- spawnResult{pid, err}
	}
	select {}
}

// execBlocked execs with the catchable signals blocked, so that the ones
// that arrive meanwhile wait, pending, until the new zedr-run has caught
// them (SIGTERM and SIGINT excepted: the Go runtime unblocks those at start).
func execBlocked(path string, argv, env []string) error {
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	unix.PthreadSigmask(unix.SIG_BLOCK, &all, &old)
	err := syscall.Exec(path, argv, env)
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return err
}

// exit is one process collected by the reaper.
type exit struct {
	pid    int
	status syscall.WaitStatus
}

// reap collects every child of zedr-run, its own and orphans reparented to
// it, and hands them to post, a batch at a time. It returns when done is
// closed.
func reap(done <-chan struct{}, post func([]exit)) {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	defer signal.Stop(sigchld)
	for {
		var exits []exit
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if pid <= 0 || err != nil {
				break
			}
			exits = append(exits, exit{pid, ws})
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
