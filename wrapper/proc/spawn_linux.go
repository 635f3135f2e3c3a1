package proc

import (
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

// Spawn starts a process from the spawner thread. Every process zedr-run
// starts goes through here, so that its parent-death signal is tied to a
// thread that lives as long as zedr-run (go.dev/issue/27505: the signal
// follows the thread that forked, and Go may end threads it no longer needs).
func Spawn(path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	startSpawner()
	reply := make(chan spawnResult, 1)
	spawnReqs <- spawnRequest{path: path, argv: argv, attr: attr, reply: reply}
	r := <-reply
	return r.pid, r.err
}

// ExecInPlace replaces zedr-run with path, from the spawner thread: the
// children's parent-death signal follows the thread that forked them, and
// execve ends every other thread. It returns only if the exec failed.
func ExecInPlace(path string, argv, env []string) error {
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
