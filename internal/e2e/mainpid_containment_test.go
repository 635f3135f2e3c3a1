package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Guarantee: MAINPID containment: a child cannot make zedr-run signal a process
// outside its generation, and no main process leaves zedr-run unstoppable.

// needNotify returns systemd-notify's path, or skips the test.
func needNotify(t *testing.T) string {
	t.Helper()
	notify, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Skip("systemd-notify (Debian's systemd) is not installed")
	}
	return notify
}

// nobodyDir makes a directory whose files nobody can run.
func nobodyDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zedr-run-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startVictim starts a process that belongs to no generation, for a child
// to name with MAINPID=; the test's cleanup kills it.
func startVictim(t *testing.T) int {
	t.Helper()
	victim := exec.Command("sleep", "300")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { victim.Wait(); close(exited) }()
	t.Cleanup(func() { victim.Process.Kill(); <-exited })
	return victim.Process.Pid
}

// TestMainPIDContainment: a child, running as another user, that names an
// unrelated process (or a pid that cannot exist) with MAINPID= is refused:
// forwarded signals and the stop signal never reach that process, and
// SIGTERM still stops zedr-run.
func TestMainPIDContainment(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the child as nobody")
	}
	notify := needNotify(t)
	if err := os.Chmod(binDir, 0o755); err != nil { // nobody runs the test server
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, pid string }{
		{"unrelated root process", "VICTIM"},
		{"pid above pid_max", "4000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := startVictim(t)
			if tc.pid == "VICTIM" {
				tc.pid = strconv.Itoa(victim)
			}
			app := filepath.Join(nobodyDir(t), "app")
			writeScript(t, app, notify+" MAINPID="+tc.pid+"\nexec "+bin("testserver")+" -notify")
			z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--user", "nobody", "--ready", "notify", "--stop-timeout", "3s", "--no-watch", "--", app)
			z.readyPID(1)
			get(t, z.addr, "/")
			// Forwarded to the main process (the server, which dies of it),
			// then the stop signal: neither may reach the victim.
			z.signal(syscall.SIGHUP)
			z.signal(syscall.SIGTERM)
			select {
			case <-z.exited:
			case <-time.After(waitLimit):
				t.Errorf("zedr-run did not exit within %v of SIGTERM", waitLimit)
			}
			if !pidAlive(victim) {
				t.Fatalf("the unrelated process pid=%d was killed through MAINPID=", victim)
			}
			z.waitLog(`msg="refused MAINPID= from a child" gen=1 .*mainpid=` + tc.pid)
			if z.countLog(`msg="child named its main process"`) != 0 {
				t.Errorf("zedr-run took MAINPID=%s from a child running as nobody", tc.pid)
			}
			t.Logf("MAINPID=%s refused; zedr-run exited %d on SIGTERM, pid=%d alive", tc.pid, z.cmd.ProcessState.ExitCode(), victim)
		})
	}
}

// TestVanishedMainProcess: a main process named with MAINPID= that
// another process of the generation reaps (zedr-run never collects it)
// does not leave its generation draining forever: SIGTERM stops zedr-run.
func TestVanishedMainProcess(t *testing.T) {
	notify := needNotify(t)
	app := filepath.Join(t.TempDir(), "app")
	// The script starts the server as its own child, names it, and waits
	// for it: the script, not zedr-run, reaps the main process.
	writeScript(t, app, "sh -c 'LISTEN_PID=$$ exec \"$0\" -notify' "+bin("testserver")+" &\npid=$!\n"+notify+" MAINPID=$pid\nwait $pid")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--stop-timeout", "60s", "--no-watch", "--", app)
	z.readyPID(1)
	m := z.waitLog(`msg="child named its main process" gen=1 pid=(\d+)`)
	get(t, z.addr, "/")
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("zedr-run exited %d, want 0 (the server stopped gracefully)", code)
	}
	z.waitLog(`msg="generation exited" gen=1 pid=` + m[1] + ` status="exited \(reaped by another process`)
}

// TestSecondStopSignal: a second SIGTERM ends zedr-run for certain, even
// while a generation ignores the first and its stop timeout is long.
func TestSecondStopSignal(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--stop-timeout", "120s", "--ready", "delay:100ms", "--no-watch", "--", bin("testserver"), "-mode", "ignore-term")
	pid := z.readyPID(1)
	z.signal(syscall.SIGTERM)
	z.waitLog(`msg=stopping `)
	z.signal(syscall.SIGTERM)
	code := z.wait()
	waitGone(t, pid)
	t.Logf("second SIGTERM: zedr-run exited %d", code)
}
