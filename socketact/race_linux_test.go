package socketact

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The racer helper plays another user who can write the directory of a
// --listen unix path: whenever a socket appears at envRacerDir/app.sock it
// replaces it, atomically, with a symbolic link to envRacerTarget.
const (
	envRacerDir    = "ZEDR_SOCKETACT_RACER_DIR"
	envRacerTarget = "ZEDR_SOCKETACT_RACER_TARGET"
)

func init() { helpers["racer"] = racerHelper }

func racerHelper() error {
	dir, target := os.Getenv(envRacerDir), os.Getenv(envRacerTarget)
	sock, link := filepath.Join(dir, "app.sock"), filepath.Join(dir, "link")
	if err := os.WriteFile(filepath.Join(dir, "racer-ready"), nil, 0o644); err != nil {
		return err
	}
	for {
		os.Symlink(target, link) // EEXIST: the last one is still there
		var st unix.Stat_t
		if unix.Lstat(sock, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			unix.Rename(link, sock)
		}
	}
}

// startRacer copies the test binary where uid 65534 can run it and starts
// it as the racer, as that user, on dir; the test's cleanup kills it.
func startRacer(t *testing.T, top, dir, target string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the racer runs as uid 65534 against root's files")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv to run the racer as uid 65534")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(top, "racer.test")
	copyFile(t, self, exe)
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=racer", envRacerDir+"="+dir, envRacerTarget+"="+target)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := filepath.Join(dir, "racer-ready")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the racer did not start within 30s")
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// raceDirs makes TOP (0755, root's) holding a root-owned 0600 file "secret"
// and a directory "shared" that everyone may write (0777, no sticky bit).
func raceDirs(t *testing.T) (top, shared, secret string) {
	t.Helper()
	top, err := os.MkdirTemp("", "zedr-socketact-race-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	shared, secret = filepath.Join(top, "shared"), filepath.Join(top, "secret")
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	return top, shared, secret
}

func checkSecret(t *testing.T, secret string, after int) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(secret, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o600 || st.Uid != 0 || st.Gid != 0 {
		t.Fatalf("after %d opens the root-owned 0600 file reached through the swapped symlink is mode %#o uid %d gid %d", after, st.Mode&0o7777, st.Uid, st.Gid)
	}
}

// TestOpenUnixSymlinkRace opens unix:DIR/app.sock,mode=0666,owner=65534:65534
// hundreds of times while uid 65534 swaps each new socket file for a
// symbolic link to a root-owned 0600 file. Open must never chmod or chown
// through the link: the file keeps its mode and owner. Open may fail (the
// socket it bound is no longer at the path) or succeed (it won the race).
func TestOpenUnixSymlinkRace(t *testing.T) {
	top, shared, secret := raceDirs(t)
	startRacer(t, top, shared, secret)
	path := filepath.Join(shared, "app.sock")
	spec, err := ParseSpec("unix:" + path + ",mode=0666,owner=65534:65534")
	if err != nil {
		t.Fatal(err)
	}
	const opens = 500
	var ok, failed int
	for i := 1; i <= opens; i++ {
		sock, err := Open(spec)
		if err == nil {
			ok++
			sock.Close()
		} else {
			failed++
		}
		checkSecret(t, secret, i)
		os.Remove(path) // whatever the racer left; unlink never follows a link
	}
	t.Logf("%d opens: %d succeeded, %d failed (the racer replaced the socket file)", opens, ok, failed)
}
