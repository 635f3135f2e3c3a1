package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

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
