package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Guarantee: Killing zedr-run leaves nothing holding the socket.

// TestKill9LeavesNoChild: zedr-run killed with SIGKILL takes its child
// with it, the port is free again, and the unix socket file it created is
// removed (by the guardian).
func TestKill9LeavesNoChild(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--listen", "unix:"+sock, "--ready", "delay:100ms", "--", bin("testserver"))
	pid := z.readyPID(1)
	z.signal(syscall.SIGKILL)
	z.wait()
	waitGone(t, pid)
	if out, err := exec.Command("ss", "-Hltn", "src", z.addr).Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		t.Errorf("something still listens on %s after zedr-run was killed:\n%s", z.addr, out)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := os.Lstat(sock); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unix socket file %s is still there after zedr-run was killed", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKill9LeavesNoGrandchild: the child's own children (a server's
// workers) have no parent-death signal; zedr-run's guardian kills their
// process group when zedr-run dies without stopping them.
func TestKill9LeavesNoGrandchild(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--",
		"sh", "-c", "sleep 1000 & sleep 1000 & wait")
	pid := z.readyPID(1)
	workers := childrenOf(t, pid)
	if len(workers) != 2 {
		t.Fatalf("the child pid=%d has children %v, want the two sleeps", pid, workers)
	}
	z.signal(syscall.SIGKILL)
	z.wait()
	waitGone(t, pid)
	for _, w := range workers {
		waitGone(t, w)
	}
}

// TestInterceptKill9NginxTree: zedr-run killed with SIGKILL takes the whole
// tree with it, nginx's workers included (the parent-death signal reaches
// only the master; the guard process kills the rest), and nothing is left
// listening.
func TestInterceptKill9NginxTree(t *testing.T) {
	needIntercept(t)
	nginx := needTool(t, "nginx")
	port := freePortNum(t)
	conf, errLog := nginxConf(t, port)
	z := startZedr(t, "--intercept-bind", "--listen", "tcp:127.0.0.1:"+strconv.Itoa(port), "--ready", "listen",
		"--", nginx, "-c", conf, "-e", errLog)
	master := z.readyPID(1)
	workers := childrenOf(t, master)
	if len(workers) < 2 {
		t.Fatalf("nginx master pid=%d has workers %v, want 2", master, workers)
	}
	z.signal(syscall.SIGKILL)
	z.wait()
	waitGone(t, master)
	for _, w := range workers {
		waitGone(t, w)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if out, err := exec.Command("ss", "-Hltn", "src", addr).Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		t.Errorf("something still listens on %s after zedr-run was killed:\n%s", addr, out)
	}
}

// TestAutoKill9RemovesAdoptedFile: with no --listen, zedr-run killed with
// SIGKILL takes the server with it, and the guardian removes the unix
// socket file of the socket zedr-run adopted, as it does a declared one's,
// so that the server starts again on that path (Go refuses an existing
// file). The TCP port zedr-run adopted is free again.
func TestAutoKill9RemovesAdoptedFile(t *testing.T) {
	needIntercept(t)
	sock, addr := filepath.Join(t.TempDir(), "app.sock"), freeTCPAddr(t)
	z := startCmd(t, execZedr("--intercept-bind", "--ready", "listen", "--", staticTestserver(t), "-listen", "unix:"+sock+","+addr), false)
	pid := z.readyPID(1)
	z.waitLog(`msg="socket adopted" gen=1 .*spec=unix:`)
	z.waitLog(`msg="socket adopted" gen=1 .*spec=tcp4:`)
	z.signal(syscall.SIGKILL)
	z.wait()
	waitGone(t, pid)
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := os.Lstat(sock); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the adopted unix socket file %s is still there after zedr-run was killed", sock)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l, err := net.Listen("tcp4", addr); err != nil {
		t.Errorf("the adopted port %s is still taken after zedr-run was killed: %v", addr, err)
	} else {
		l.Close()
	}
}
