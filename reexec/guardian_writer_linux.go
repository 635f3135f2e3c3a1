package reexec

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Guardian is zedr-run's end of the guardian's stdin: it writes the lines
// that guardian() reads (see GuardianName). Only one goroutine, the
// supervisor loop, may use it. Writes are not checked: a guardian that
// is gone cannot be told anything, and zedr-run carries on without it.
type Guardian struct {
	w *os.File
}

// StartFunc starts a process as syscall.ForkExec does. zedr-run passes the
// function that forks from its spawner thread, which every process it
// starts goes through.
type StartFunc func(path string, argv []string, attr *syscall.ProcAttr) (pid int, err error)

// StartGuardian starts the guardian with start and returns the writer of
// its stdin. The guardian runs this binary (SelfExe) in a process group of
// its own, so that a terminal's ^C does not reach it, and with no
// parent-death signal, since it must outlive zedr-run.
func StartGuardian(start StartFunc) (*Guardian, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start the guardian: %w", err)
	}
	defer r.Close()
	_, err = start(SelfExe, []string{GuardianName}, &syscall.ProcAttr{
		Files: []uintptr{r.Fd(), 2, 2}, // it writes nothing; no /dev/null needed in a scratch image
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start the guardian: %w", err)
	}
	return &Guardian{w: w}, nil
}

// AdoptGuardian takes over the guardian's stdin at fd, as a previous
// zedr-run handed it over across a reexec (Handoff.GuardFD), and marks it
// close-on-exec again.
func AdoptGuardian(fd int) *Guardian {
	unix.CloseOnExec(fd)
	return &Guardian{w: os.NewFile(uintptr(fd), "guardian")}
}

// FD is the descriptor of the guardian's stdin, to hand over across a
// reexec (Handoff.GuardFD).
func (g *Guardian) FD() int { return int(g.w.Fd()) }

// Add tells the guardian of the process group pgid.
func (g *Guardian) Add(pgid int) { g.line(guardAdd, strconv.Itoa(pgid)) }

// Remove tells the guardian that the process group pgid is gone.
func (g *Guardian) Remove(pgid int) { g.line(guardRemove, strconv.Itoa(pgid)) }

// File has the guardian remove the unix socket file at path, with device
// dev and inode ino as zedr-run created it, only while it is still that
// file.
func (g *Guardian) File(dev, ino uint64, path string) { fmt.Fprintln(g.w, fileLine(dev, ino, path)) }

// Cgroup has the guardian kill the cgroup v2 subtree dir whole and remove it.
func (g *Guardian) Cgroup(dir string) { g.line(guardCgroup, dir) }

// Socket has the guardian kill the processes that hold the socket with
// inode ino and carry every Env entry.
func (g *Guardian) Socket(ino uint64) { g.line(guardSocket, strconv.FormatUint(ino, 10)) }

// Env adds kv ("KEY=VALUE") to the entries a socket holder's environment
// must have to be killed. Without one, the guardian kills no socket holder.
func (g *Guardian) Env(kv string) { g.line(guardEnv, kv) }

// Close tells the guardian that zedr-run stopped every generation itself,
// so it has nothing to do, and closes its stdin.
func (g *Guardian) Close() error {
	fmt.Fprintln(g.w, guardianExit)
	return g.w.Close()
}

func (g *Guardian) line(kind byte, v string) { fmt.Fprintf(g.w, "%c%s\n", kind, v) }
