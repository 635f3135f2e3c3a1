package wrapper

import (
	"fmt"
	"os"
	"syscall"

	"zedr-run/reexec"
	"zedr-run/socketact"
	"zedr-run/wrapper/proc"
)

// guardian feeds the guardian process (see reexec.GuardianName) the process
// groups of the generations, so that it can kill them if zedr-run dies
// without stopping them. Only the supervisor loop calls it.
type guardian struct {
	w *os.File
}

func startGuardian() (*guardian, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start the guardian: %w", err)
	}
	defer r.Close()
	// Its own process group, so that a terminal's ^C does not reach it; no
	// parent-death signal, since it must outlive zedr-run.
	_, err = proc.Spawn(reexec.SelfExe, []string{reexec.GuardianName}, &syscall.ProcAttr{
		Files: []uintptr{r.Fd(), 2, 2}, // it writes nothing; no /dev/null needed in a scratch image
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start the guardian: %w", err)
	}
	return &guardian{w: w}, nil
}

func (g *guardian) add(pgid int)    { fmt.Fprintf(g.w, "+%d\n", pgid) }
func (g *guardian) remove(pgid int) { fmt.Fprintf(g.w, "-%d\n", pgid) }

// file has the guardian remove the unix socket file that sock created, if
// any, and only while it is still that file (its device and inode).
func (g *guardian) file(sock *socketact.Socket) {
	if dev, ino, ok := sock.FileID(); ok {
		fmt.Fprintln(g.w, reexec.FileLine(dev, ino, sock.Spec.Address))
	}
}

// close tells the guardian that zedr-run stopped every generation itself.
func (g *guardian) close() {
	fmt.Fprintln(g.w, reexec.GuardianExit)
	g.w.Close()
}

// line sends the guardian one line of kind (see reexec.GuardCgroup, ...).
func (g *guardian) line(kind byte, v string) { fmt.Fprintf(g.w, "%c%s\n", kind, v) }
