package wrapper

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
)

// guard is the pipe to the guard process (see reexec.GuardName), which kills
// the process groups of every generation if zedr-run dies without stopping
// them. Writes come from the supervisor loop and the interceptor goroutines.
type guard struct {
	mu sync.Mutex
	w  *os.File
}

// startGuard starts the guard. It has no parent-death signal (it must act
// after zedr-run died) and ignores the signals meant for zedr-run; it ends
// when the write end of its stdin closes with zedr-run.
func startGuard() (*guard, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("guard pipe: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, err
	}
	defer devnull.Close()
	_, err = spawn(reexec.SelfExe, []string{reexec.GuardName}, &syscall.ProcAttr{
		Files: []uintptr{uintptr(p[0]), devnull.Fd(), 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	unix.Close(p[0])
	if err != nil {
		unix.Close(p[1])
		return nil, fmt.Errorf("start the guard process: %w", err)
	}
	return &guard{w: os.NewFile(uintptr(p[1]), "guard")}, nil
}

// add asks the guard to kill process group pgid if zedr-run dies.
func (g *guard) add(pgid int) { g.send('+', pgid) }

// remove tells the guard that group pgid is gone (its number may be reused).
func (g *guard) remove(pgid int) { g.send('-', pgid) }

func (g *guard) send(op byte, pgid int) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	fmt.Fprintf(g.w, "%c%d\n", op, pgid)
}
