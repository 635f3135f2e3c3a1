package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Guarantee: A stopped generation leaves no escaped process behind, even one
// that left its process group (setsid) holding the socket.

// The tests below run a child that starts a process in a session of its
// own (setsid), which keeps the listening socket and ignores SIGTERM: it
// has left the child's process group, so killing the group misses it. Each
// runs once per containment mechanism (see forEachContainment).

// TestEscapedProcessStoppedWithItsGeneration: after a restart, the old
// generation's escaped process is stopped with it (SIGKILL after the stop
// timeout), and the new generation, escaped process included, serves on.
func TestEscapedProcessStoppedWithItsGeneration(t *testing.T) {
	forEachContainment(t, func(t *testing.T, start func(...string) *zedr) {
		script, dir := escapingChild(t)
		z := start("--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--stop-timeout", "1s", "--", script)
		z.readyPID(1)
		old := escapee(t, dir, 1)
		z.signal(sigUSR2)
		z.readyPID(2)
		young := escapee(t, dir, 2)
		waitGone(t, old)
		z.waitLog(`msg="generation exited" gen=1 `)
		if !pidAlive(young) {
			t.Errorf("the escaped process pid=%d of the serving generation 2 was stopped with generation 1", young)
		}
		if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "generation=2 ") {
			t.Errorf("after the restart the server answers %q, want generation 2", body)
		}
	})
}

// TestStopLeavesNoEscapedProcess: zedr-run stopped by SIGTERM exits only
// once the escaped process is gone, so the next zedr-run binds the port.
func TestStopLeavesNoEscapedProcess(t *testing.T) {
	forEachContainment(t, func(t *testing.T, start func(...string) *zedr) {
		script, dir := escapingChild(t)
		z := start("--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--stop-timeout", "1s", "--", script)
		z.readyPID(1)
		esc := escapee(t, dir, 1)
		z.signal(syscall.SIGTERM)
		z.wait()
		if pidAlive(esc) {
			t.Errorf("zedr-run exited, but the escaped process pid=%d still runs", esc)
		}
		next := start("--listen", "tcp:"+z.addr, "--ready", "delay:100ms", "--", bin("testserver"))
		next.readyPID(1)
	})
}

// TestKill9LeavesNoEscapedProcess: zedr-run killed with SIGKILL; its
// guardian kills the escaped process and the port is free.
func TestKill9LeavesNoEscapedProcess(t *testing.T) {
	forEachContainment(t, func(t *testing.T, start func(...string) *zedr) {
		script, dir := escapingChild(t)
		z := start("--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", script)
		pid := z.readyPID(1)
		esc := escapee(t, dir, 1)
		z.signal(syscall.SIGKILL)
		z.wait()
		waitGone(t, pid)
		waitGone(t, esc)
		l, err := net.Listen("tcp", z.addr)
		if err != nil {
			t.Fatalf("the port is still taken after zedr-run was killed: %v", err)
		}
		l.Close()
	})
}

// forEachContainment runs f under each mechanism zedr-run uses to find
// the processes that left a worker's process group: the cgroup (skipped
// where zedr-run cannot create one) and the scan of socket holders
// (ZEDR_CONTAINMENT=scan). start starts zedr-run with that mechanism.
func forEachContainment(t *testing.T, f func(t *testing.T, start func(...string) *zedr)) {
	for _, mech := range []string{"cgroup", "scan"} {
		t.Run(mech, func(t *testing.T) {
			checked := false
			f(t, func(args ...string) *zedr {
				t.Helper()
				cmd := execZedr(args...)
				cmd.Env = os.Environ()
				if mech == "scan" {
					cmd.Env = append(cmd.Env, "ZEDR_CONTAINMENT=scan")
				}
				z := startCmd(t, cmd, true)
				if m := z.waitLog(`msg=containment mechanism=(\w+)(.*)`); m[1] != mech && !checked {
					t.Skipf("zedr-run uses %s here, not %s:%s", m[1], mech, m[2])
				}
				checked = true
				return z
			})
		})
	}
}

// escapingChild writes the child: it starts the escaping process, which
// writes its pid to dir/escapee.GEN, then execs the test server. The
// escaping process keeps no end of zedr-run's output, which would keep the
// test's log reader from seeing zedr-run exit.
func escapingChild(t *testing.T) (script, dir string) {
	t.Helper()
	dir = t.TempDir()
	script = filepath.Join(dir, "child")
	writeScript(t, script, fmt.Sprintf(`setsid sh -c 'trap "" TERM; echo $$ > "$0.tmp"; mv "$0.tmp" "$0"; exec sleep 300' "%s/escapee.$ZEDR_GENERATION" </dev/null >/dev/null 2>&1 &
exec %s`, dir, bin("testserver")))
	return script, dir
}

// escapee waits for the escaping process of generation gen, checks that it
// left the child's session holding the socket, and has the test's cleanup
// kill it if it is still there.
func escapee(t *testing.T, dir string, gen int) int {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("escapee.%d", gen))
	deadline := time.Now().Add(waitLimit)
	pid := 0
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			pid = atoi(t, strings.TrimSpace(string(b)))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("generation %d's escaping process did not write %s", gen, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(b) == "sleep\x00300\x00" {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	sid, err := unix.Getsid(pid)
	if err != nil || sid != pid {
		t.Fatalf("the escaping process pid=%d has session %d (%v), want its own", pid, sid, err)
	}
	if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", pid)); err != nil || !strings.HasPrefix(target, "socket:") {
		t.Fatalf("the escaping process pid=%d does not hold the socket at fd 3: %q %v", pid, target, err)
	}
	return pid
}
