package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Guarantee: Symlink-safe socket files: no step on a unix socket path follows a
// symlink or touches a file zedr-run did not create.

// guardianOf returns the pid of zedr-run pid's guardian process.
func guardianOf(t *testing.T, pid int) int {
	t.Helper()
	for _, c := range childrenOf(t, pid) {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(c) + "/cmdline"); err == nil && strings.HasPrefix(string(b), "zedr-run-guardian\x00") {
			return c
		}
	}
	t.Fatalf("no guardian among the children of zedr-run pid=%d", pid)
	return 0
}

// listenUnixAt puts a listening socket of the test's own at path, in
// place of whatever is there (rename is atomic), and returns it.
func listenUnixAt(t *testing.T, path string) *net.UnixListener {
	t.Helper()
	tmp := path + ".new"
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	t.Cleanup(func() { ln.Close() })
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestKill9KeepsReplacedSocketFile: zedr-run is killed with SIGKILL after
// another process put its own socket at zedr-run's --listen unix path. The
// guardian removes only the file zedr-run created, so the other socket
// stays; the control socket file, zedr-run's own, goes.
func TestKill9KeepsReplacedSocketFile(t *testing.T) {
	dir := t.TempDir()
	sock, ctl := filepath.Join(dir, "app.sock"), filepath.Join(dir, "ctl.sock")
	z := startZedr(t, "--listen", "unix:"+sock, "--control", ctl, "--no-watch", "--ready", "delay:100ms", "--", bin("testserver"))
	z.readyPID(1)
	z.waitLog(`msg="control socket"`)
	guardian := guardianOf(t, z.cmd.Process.Pid)
	other := listenUnixAt(t, sock)
	want := inode(t, sock)

	z.signal(syscall.SIGKILL)
	z.wait()
	waitGone(t, guardian)

	if _, err := os.Lstat(ctl); !os.IsNotExist(err) {
		t.Errorf("the control socket %s is still there after zedr-run was killed and its guardian exited: %v", ctl, err)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("the socket another process put at %s was removed after zedr-run was killed: %v", sock, err)
	}
	if got := inode(t, sock); got != want {
		t.Fatalf("%s is inode %d, want the other process's %d", sock, got, want)
	}
	go func() {
		if c, err := other.Accept(); err == nil {
			c.Close()
		}
	}()
	if c, err := net.DialTimeout("unix", sock, waitLimit); err != nil {
		t.Errorf("the other process's socket %s no longer answers: %v", sock, err)
	} else {
		c.Close()
	}
}

// TestStaleControlSocketsSwept: a starting zedr-run removes, in the
// directory of its default control socket, the sockets of dead zedr-run
// processes of its uid, and nothing else: not a live socket, not a file
// that is not a socket, not a symbolic link nor what it points to.
func TestStaleControlSocketsSwept(t *testing.T) {
	xdg := t.TempDir()
	dir := filepath.Join(xdg, "zedr-run")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Pids above the kernel's limit (4194304 at most) name no process.
	stale := func(name string) string {
		path := filepath.Join(dir, name)
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close()
		return path
	}
	dead1, dead2 := stale("4194401.sock"), stale("4194402.sock")
	live := filepath.Join(dir, "4194403.sock")
	listenUnixAt(t, live)
	plain := filepath.Join(dir, "4194404.sock")
	if err := os.WriteFile(plain, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(xdg, "elsewhere.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: elsewhere, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	link := filepath.Join(dir, "4194405.sock")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	notPid := stale("not-a-pid.sock")

	cmd := exec.Command(bin("zedr-run"), "--listen", "tcp:127.0.0.1:0", "--no-watch", "--ready", "delay:100ms", "--", bin("testserver"))
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+xdg)
	z := startCmd(t, cmd, true)
	z.waitLog(`msg="control socket" path=` + regexp.QuoteMeta(dir+"/"))

	for _, p := range []string{dead1, dead2} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("the stale control socket %s of a dead zedr-run is still there: %v", p, err)
		}
	}
	for _, p := range []string{live, plain, elsewhere, link, notPid} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep" {
		t.Errorf("%s holds %q", plain, b)
	}
	z.signal(syscall.SIGTERM)
	z.wait()
}

// TestUnixSocketSymlinkRace starts zedr-run --listen
// unix:DIR/app.sock,mode=0666,owner=nobody hundreds of times while uid 65534,
// who may write DIR, swaps each new socket file for a symbolic link to a
// root-owned 0600 file. zedr-run must never chmod or chown through the
// link: the file keeps its mode and owner.
func TestUnixSocketSymlinkRace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the racer runs as uid 65534 against root's files")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv to run the racer as uid 65534")
	}
	top, err := os.MkdirTemp("", "zedr-run-race-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	shared, secret := filepath.Join(top, "shared"), filepath.Join(top, "secret")
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{top, 0o755}, {shared, 0o777}} {
		if err := os.MkdirAll(c.path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(c.path, c.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	racer := filepath.Join(top, "racer")
	if out, err := exec.Command("go", "build", "-o", racer, "zedr-run/testdata/racer").CombinedOutput(); err != nil {
		t.Fatalf("go build zedr-run/testdata/racer: %v\n%s", err, out)
	}
	os.Chmod(racer, 0o755)
	sock := filepath.Join(shared, "app.sock")
	rc := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", racer, sock, secret)
	rc.Stderr = os.Stderr
	if err := rc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rc.Process.Kill()
		rc.Wait()
	})
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock + ".racer-ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the racer did not start within %v", waitLimit)
		}
	}

	const starts = 300
	listened, failed := 0, 0
	for i := 1; i <= starts; i++ {
		cmd := exec.Command(bin("zedr-run"), "--listen", "unix:"+sock+",mode=0666,owner=nobody", "--no-watch", "--control", filepath.Join(top, "ctl.sock"), "--", "true")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The socket is set up once zedr-run logs "listening", or it exits.
		sc := bufio.NewScanner(stderr)
		var log []string
		ok := false
		for sc.Scan() {
			log = append(log, sc.Text())
			if strings.Contains(sc.Text(), "msg=listening") {
				ok = true
				break
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if ok {
			listened++
		} else {
			failed++
		}
		var st unix.Stat_t
		if err := unix.Stat(secret, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o7777 != 0o600 || st.Uid != 0 || st.Gid != 0 {
			t.Fatalf("after %d starts the root-owned 0600 file reached through the swapped symlink is mode %#o uid %d gid %d; last log:\n%s", i, st.Mode&0o7777, st.Uid, st.Gid, strings.Join(log, "\n"))
		}
		os.Remove(sock) // whatever the racer left; unlink never follows a link
	}
	t.Logf("%d starts: %d listened, %d exited (their socket file was replaced)", starts, listened, failed)
}
