package intercept

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
	"zedr-run/reexec"
	"zedr-run/socketact"
)

// childEnv makes the test binary the filtered child (TestMain): its value
// is the address to bind, "127.0.0.1:PORT".
const childEnv = "INTERCEPT_TEST_CHILD"

func TestMain(m *testing.M) {
	if steps := os.Getenv(adoptChildEnv); steps != "" {
		if err := adoptChild(steps); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if addr := os.Getenv(childEnv); addr != "" {
		if err := child(addr); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// installAsShim does what the shim does before it runs the server: it
// locks the goroutine to its thread (the filter and every later call are on
// it), installs the filter for bind() and listen(), and sends its listener
// on fd 3 (the status channel).
func installAsShim() error {
	runtime.LockOSThread()
	listener, err := seccomp.Install(seccomp.SysBind, seccomp.SysListen)
	if err != nil {
		return err
	}
	if err := unix.Sendmsg(3, []byte(reexec.ListenerMessage), unix.UnixRights(listener), nil, 0); err != nil {
		return err
	}
	unix.Close(listener)
	unix.Close(3)
	return nil
}

// child is what the shim and then a server do: install the filter on this
// thread, send its listener on fd 3 (the status channel), then bind a
// port the kernel picks (not declared: it must run unchanged), bind and
// listen on addr (declared: answered with zedr-run's socket). It prints
// the fd and inode of the socket it got for addr.
func child(addr string) error {
	if err := installAsShim(); err != nil {
		return err
	}

	other, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(other, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fmt.Errorf("bind 127.0.0.1:0: %w", err)
	}
	if sa, err := unix.Getsockname(other); err != nil || sa.(*unix.SockaddrInet4).Port == 0 {
		return fmt.Errorf("bind 127.0.0.1:0 did not run: %v %v", sa, err)
	}

	var port int
	if _, err := fmt.Sscanf(addr, "127.0.0.1:%d", &port); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
		return fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	fmt.Printf("%d %d\n", fd, st.Ino)
	return nil
}

// openSocket opens the socket of spec as zedr-run holds it, closed when
// the test ends.
func openSocket(t *testing.T, spec string) *socketact.Socket {
	t.Helper()
	s, err := socketact.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := socketact.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	return sock
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// TestServeGeneration runs one generation end to end: its listener comes
// over the status channel, its bind() of the declared address gets
// zedr-run's socket at its own fd, an undeclared bind runs unchanged, the
// Listen event names it, and its listener is closed once it has exited.
func TestServeGeneration(t *testing.T) {
	if err := seccomp.Check(); err != nil {
		t.Skip(err)
	}
	sock := openSocket(t, "tcp:127.0.0.1:0")
	listens := make(chan Listen, 1)
	ic, err := New([]*socketact.Socket{sock}, false, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})), func(l Listen) { listens <- l }, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan int, 1)
	ic.closed = func(gen int) { closed <- gen }
	if got := ic.ShimIntercept(); got != (reexec.Intercept{Bind: true}) {
		t.Errorf("ShimIntercept() = %+v with a tcp socket", got)
	}

	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := os.NewFile(uintptr(pair[1]), "status channel (child)")
	defer unix.Close(pair[0])
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+ic.held[0].addr)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	t.Cleanup(func() { cmd.Process.Kill() })

	recv := func(buf, oob []byte) (int, int, error) {
		n, oobn, _, _, err := unix.Recvmsg(pair[0], buf, oob, unix.MSG_CMSG_CLOEXEC)
		return n, oobn, err
	}
	if err := ic.Receive(recv, 1, cmd.Process.Pid); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	var l Listen
	select {
	case l = <-listens:
	case <-time.After(30 * time.Second):
		t.Fatal("no Listen event")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	var fd int
	var ino uint64
	if _, err := fmt.Sscanf(out.String(), "%d %d", &fd, &ino); err != nil {
		t.Fatalf("child printed %q: %v", out.String(), err)
	}
	if want := (Listen{PID: cmd.Process.Pid, FDs: fmt.Sprint(fd)}); l != want {
		t.Errorf("Listen = %+v, want %+v", l, want)
	}
	if ino != ic.held[0].ino {
		t.Errorf("the child's socket is inode %d, zedr-run's %d", ino, ic.held[0].ino)
	}
	select {
	case gen := <-closed:
		if gen != 1 {
			t.Errorf("closed the listener of gen %d", gen)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the listener was not closed after its generation exited")
	}
}

// TestReceiveWithoutListener: what the shim sends instead of a listener
// is its error, and a stray fd is not kept.
func TestReceiveWithoutListener(t *testing.T) {
	ic := &Interceptor{}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	recv := func(buf, oob []byte) (int, int, error) {
		n, oobn, _, _, err := unix.Recvmsg(pair[0], buf, oob, unix.MSG_CMSG_CLOEXEC)
		return n, oobn, err
	}

	if err := unix.Sendmsg(pair[1], []byte("exec /nonexistent: no such file"), nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := ic.Receive(recv, 1, 1); err == nil || err.Error() != "exec /nonexistent: no such file" {
		t.Errorf("the shim's error: Receive = %v", err)
	}

	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	if err := unix.Sendmsg(pair[1], []byte("not the listener"), unix.UnixRights(p[1]), nil, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[1]) // the message's copy is now the only write end
	if err := ic.Receive(recv, 1, 1); err == nil || err.Error() != "not the listener" {
		t.Errorf("a stray fd: Receive = %v", err)
	}
	// Every write end is closed, so a read sees end of file at once.
	if n, err := unix.Read(p[0], make([]byte, 1)); n != 0 || err != nil {
		t.Errorf("the stray fd was kept: read = %d, %v", n, err)
	}

	if err := unix.Sendmsg(pair[1], nil, nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := ic.Receive(recv, 1, 1); err == nil || !strings.Contains(err.Error(), "without the seccomp filter") {
		t.Errorf("an empty message: Receive = %v", err)
	}

	failed := errors.New("no word from the shim")
	if err := ic.Receive(func([]byte, []byte) (int, int, error) { return 0, 0, failed }, 1, 1); !errors.Is(err, failed) {
		t.Errorf("recv failed: Receive = %v", err)
	}
}
