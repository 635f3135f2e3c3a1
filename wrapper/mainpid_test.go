package wrapper

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMainWatcherEnds: a child that names one main process after another
// (MAINPID= in a loop, between two live processes) leaves one watcher of
// its main process, not one per name, each holding descriptors of
// zedr-run's for as long as its process lives.
func TestMainWatcherEnds(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	w := m.fx.procs[m.started(1)[0]].w
	var pids []int
	for range 2 {
		c := exec.Command("sleep", "60")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		pids = append(pids, c.Process.Pid)
	}
	before := openFDs(t)
	for i := range 50 {
		fd, err := unix.PidfdOpen(pids[i%2], 0)
		if err != nil {
			t.Skipf("no pidfds: %v", err)
		}
		m.s.holdMain(w, pids[i%2], fd)
	}
	defer w.closeMain()
	// The one held: its pidfd, the watcher's copy, the stop pipe's ends.
	deadline := time.Now().Add(5 * time.Second)
	for n := openFDs(t); n > before+4; n = openFDs(t) {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open after 50 MAINPID= changes, %d before: the replaced main processes' watchers hold them", n, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
