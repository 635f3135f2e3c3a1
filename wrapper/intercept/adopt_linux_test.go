package intercept

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
	"zedr-run/reexec"
	"zedr-run/socketact"
)

// adoptChildEnv makes the test binary a filtered child that runs steps
// (TestMain): "listen ADDR", "client ADDR" (a TCP socket that binds ADDR,
// then connects to the first listener), "bindwait ADDR" (binds ADDR, then
// listens once a line comes on stdin, and prints "listened INODE"), "udp
// ADDR", "udpclient ADDR" (binds ADDR, then connects), "badaddr ADDR" (a
// bind() with an address it cannot read, which must fail with EFAULT, then
// binds ADDR), "unix PATH" (a stream socket that binds PATH, relative to
// its directory, and listens), separated by ';'. TCP sockets have SO_REUSEADDR, as servers' do. It
// prints "STEP INODE" for each, then waits for its stdin to close.
const adoptChildEnv = "INTERCEPT_TEST_ADOPT"

func adoptChild(steps string) error {
	if err := installAsShim(); err != nil {
		return err
	}
	var firstListener unix.Sockaddr
	stdin := bufio.NewReader(os.Stdin)
	for _, step := range strings.Split(steps, ";") {
		verb, arg, _ := strings.Cut(step, " ")
		family, sotype, sa := unix.AF_INET, unix.SOCK_STREAM, unix.Sockaddr(nil)
		if verb == "unix" {
			family, sa = unix.AF_UNIX, &unix.SockaddrUnix{Name: arg}
		} else {
			ap := netip.MustParseAddrPort(arg)
			sa = &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
		}
		if verb == "udp" || verb == "udpclient" || verb == "udpclientslow" {
			sotype = unix.SOCK_DGRAM
		}
		fd, err := unix.Socket(family, sotype|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if family == unix.AF_INET && sotype == unix.SOCK_STREAM {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
				return err
			}
		}
		if verb == "badaddr" {
			if _, _, errno := unix.Syscall(unix.SYS_BIND, uintptr(fd), 1, unix.SizeofSockaddrInet4); errno != unix.EFAULT {
				return fmt.Errorf("%s: bind with an address at 0x1: %v, want EFAULT", step, errno)
			}
		}
		if verb == "busy" {
			if err := unix.Bind(fd, sa); err != unix.EADDRINUSE {
				return fmt.Errorf("%s: bind: %v, want EADDRINUSE", step, err)
			}
		} else if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("%s: bind: %w", step, err)
		}
		switch verb {
		case "bindwait":
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return err
			}
			fmt.Printf("%s %d\n", step, st.Ino)
			if _, err := stdin.ReadString('\n'); err != nil {
				return err
			}
			if err := unix.Listen(fd, 16); err != nil {
				return fmt.Errorf("%s: listen: %w", step, err)
			}
			if err := unix.Fstat(fd, &st); err != nil {
				return err
			}
			fmt.Printf("listened %d\n", st.Ino)
			continue
		case "listen", "unix", "busy":
			if err := unix.Listen(fd, 16); err != nil {
				return fmt.Errorf("%s: listen: %w", step, err)
			}
			if firstListener == nil {
				firstListener, _ = unix.Getsockname(fd)
			}
		case "client":
			if err := unix.Connect(fd, firstListener); err != nil {
				return fmt.Errorf("%s: connect: %w", step, err)
			}
		case "udpclient", "udpclientslow":
			if verb == "udpclientslow" {
				// A client held up between its bind and its connect, as a
				// loaded machine may hold one up: longer than the checks'
				// interval, shorter than udpClientGrace.
				time.Sleep(3 * udpCheckInterval)
			}
			if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 9}); err != nil {
				return fmt.Errorf("%s: connect: %w", step, err)
			}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		fmt.Printf("%s %d\n", step, st.Ino)
	}
	io.Copy(io.Discard, stdin)
	return nil
}

// adoptGen is one filtered child of an adoption test.
type adoptGen struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	inos  map[string]uint64 // step -> inode of its socket
}

// startAdoptGen starts generation gen running steps in dir, served by ic,
// and waits until it has run them.
func startAdoptGen(t *testing.T, ic *Interceptor, gen int, dir, steps string) *adoptGen {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := os.NewFile(uintptr(pair[1]), "status channel (child)")
	defer unix.Close(pair[0])
	g := &adoptGen{cmd: exec.Command(os.Args[0], "-test.run=^$"), inos: map[string]uint64{}}
	g.cmd.Env = append(os.Environ(), adoptChildEnv+"="+steps)
	g.cmd.Dir = dir
	g.cmd.ExtraFiles = []*os.File{theirs}
	g.cmd.Stderr = os.Stderr
	out, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if g.stdin, err = g.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	t.Cleanup(func() { g.cmd.Process.Kill(); g.cmd.Wait() })
	recv := func(buf, oob []byte) (int, int, error) {
		n, oobn, _, _, err := unix.Recvmsg(pair[0], buf, oob, unix.MSG_CMSG_CLOEXEC)
		return n, oobn, err
	}
	if err := ic.Receive(recv, gen, g.cmd.Process.Pid); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	sc := bufio.NewScanner(out)
	g.out = sc
	for range strings.Split(steps, ";") {
		if !sc.Scan() {
			t.Fatalf("gen %d ended before its steps were done (%v)", gen, g.cmd.Wait())
		}
		i := strings.LastIndexByte(sc.Text(), ' ')
		var ino uint64
		fmt.Sscan(sc.Text()[i+1:], &ino)
		g.inos[sc.Text()[:i]] = ino
	}
	return g
}

// stop ends the generation: its stdin closes, it exits.
func (g *adoptGen) stop(t *testing.T) {
	t.Helper()
	g.stdin.Close()
	if err := g.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().String()
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newAdopting returns an adopting Interceptor holding the declared socket
// sock (if not nil), logging at debug level to w, closed when the test
// ends. It skips the test where the kernel lacks seccomp user
// notifications.
func newAdopting(t *testing.T, w io.Writer, sock *socketact.Socket, onListen func(Listen)) *Interceptor {
	t.Helper()
	if err := seccomp.Check(); err != nil {
		t.Skip(err)
	}
	var socks []*socketact.Socket
	if sock != nil {
		socks = append(socks, sock)
	}
	ic, err := New(socks, true, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), onListen, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ic.Close)
	return ic
}

func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s after 30s", what)
	}
	var zero T
	return zero
}

// TestAdoption runs the adoption rules with real processes: generation 1
// binds a listener on port 0, a client that binds a fixed port before
// connect(), a listener on a fixed port, a UDP socket on a fixed port, a
// connected UDP client on a fixed port, a UDP socket on port 0 and a unix
// socket at a relative path. Only the fixed-port listener, the fixed-port
// UDP socket and the unix socket are adopted; generation 2's bind of the
// listener's address gets the adopted socket; the two it no longer binds
// are closed (the unix file removed) once generation 1 is gone, and the
// log says so.
func TestAdoption(t *testing.T) {
	var logs lockedBuffer
	listens := make(chan Listen, 4)
	ic := newAdopting(t, &logs, nil, func(l Listen) { listens <- l })
	ic.settle = 100 * time.Millisecond
	closed := make(chan int, 4)
	ic.closed = func(gen int) { closed <- gen }
	if got := ic.ShimIntercept(); got != (reexec.Intercept{Bind: true, Unlink: true}) {
		t.Errorf("ShimIntercept() = %+v when adopting: unlink() must be intercepted from the first generation on", got)
	}

	dir := t.TempDir()
	tcp, client, udp, udpClient, udpSlow := freeAddr(t, "tcp"), freeAddr(t, "tcp"), freeAddr(t, "udp"), freeAddr(t, "udp"), freeAddr(t, "udp")
	steps := strings.Join([]string{"listen 127.0.0.1:0", "client " + client, "listen " + tcp, "udp " + udp,
		"udpclient " + udpClient, "udpclientslow " + udpSlow, "udp 127.0.0.1:0", "unix app.sock"}, ";")
	g1 := startAdoptGen(t, ic, 1, dir, steps)
	l := wait(t, listens, "Listen of gen 1")
	if l.PID != g1.cmd.Process.Pid {
		t.Errorf("Listen = %+v, want pid %d", l, g1.cmd.Process.Pid)
	}
	path := filepath.Join(dir, "app.sock")
	want := []Adopted{{Spec: "tcp4:" + tcp, Addr: tcp, Gen: 1}, {Spec: "udp4:" + udp, Addr: udp, Gen: 1}, {Spec: "unix:" + path, Addr: path, Gen: 1}}
	// In the order taken: the UDP socket is adopted once it has stayed
	// unconnected udpClientGrace, after the unix one.
	got := ic.Adopted()
	slices.SortFunc(got, func(a, b Adopted) int { return strings.Compare(a.Spec, b.Spec) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("adopted %v\nwant %v", got, want)
	}
	for _, step := range []string{"listen " + tcp, "udp " + udp, "unix app.sock"} {
		if i := ic.heldIndexOf(&unix.Stat_t{Dev: ic.held[0].dev, Ino: g1.inos[step]}); i < 0 {
			t.Errorf("%s: the held socket is not the child's own (inode %d)", step, g1.inos[step])
		}
	}

	g2 := startAdoptGen(t, ic, 2, dir, "listen "+tcp)
	wait(t, listens, "Listen of gen 2 (after the settle: it dropped two sockets)")
	if g2.inos["listen "+tcp] != g1.inos["listen "+tcp] {
		t.Errorf("gen 2's bind of %s got inode %d, not the adopted socket %d", tcp, g2.inos["listen "+tcp], g1.inos["listen "+tcp])
	}
	if n := len(ic.Adopted()); n != 3 {
		t.Errorf("%d adopted sockets while gen 1 still runs, want 3", n)
	}
	g1.stop(t)
	if gen := wait(t, closed, "gen 1's listener closed"); gen != 1 {
		t.Fatalf("closed gen %d", gen)
	}
	if got, want := ic.Adopted(), []Adopted{{Spec: "tcp4:" + tcp, Addr: tcp, Gen: 1}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after gen 1 is gone, adopted %v, want %v", got, want)
	}
	if n := strings.Count(logs.String(), `msg="adopted socket closed: no live generation binds it any more"`); n != 2 {
		t.Errorf("%d log lines say an adopted socket was closed, want 2:\n%s", n, logs.String())
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the dropped unix socket's file is still there: %v", err)
	}
	pc, err := net.ListenPacket("udp4", udp)
	if err != nil {
		t.Errorf("the dropped UDP socket still holds its port: %v", err)
	} else {
		pc.Close()
	}
	g2.stop(t)
	wait(t, closed, "gen 2's listener closed")
	// The last generation's exit closes nothing: a crashed server's
	// successor gets the socket.
	if n := len(ic.Adopted()); n != 1 {
		t.Errorf("%d adopted sockets after the last generation exited, want 1", n)
	}
	ic.Close()
	if l, err := net.Listen("tcp4", tcp); err != nil {
		t.Errorf("Close left %s held: %v", tcp, err)
	} else {
		l.Close()
	}
}

// TestAdoptionRaceOfWorkers: two workers of the first generation bind the
// same address (SO_REUSEADDR allows it while neither listens); one listens
// first and its socket is adopted; the other's listen() then gets the
// adopted socket, as a bind() would, instead of failing with EADDRINUSE.
func TestAdoptionRaceOfWorkers(t *testing.T) {
	var logs lockedBuffer
	ic := newAdopting(t, &logs, nil, func(Listen) {})
	dir, addr := t.TempDir(), freeAddr(t, "tcp")
	late := startAdoptGen(t, ic, 1, dir, "bindwait "+addr)
	first := startAdoptGen(t, ic, 1, dir, "listen "+addr)
	if got := ic.Adopted(); len(got) != 1 || got[0].Addr != addr {
		t.Fatalf("adopted %v, want %s", got, addr)
	}
	fmt.Fprintln(late.stdin)
	if !late.out.Scan() {
		t.Fatalf("the late worker's listen() failed: %v", late.cmd.Wait())
	}
	var ino uint64
	fmt.Sscanf(late.out.Text(), "listened %d", &ino)
	if want := first.inos["listen "+addr]; ino != want {
		t.Errorf("the late worker listens on inode %d, not the adopted socket %d", ino, want)
	}
	if !strings.Contains(logs.String(), `msg="bind intercepted at listen(): the address was adopted meanwhile"`) {
		t.Errorf("no log line for the late worker:\n%s", logs.String())
	}
	late.stop(t)
	first.stop(t)
}

// TestAdoptionRolledBack: beside a declared socket, a new generation adopts
// an address of its own and exits before it has taken its sockets (a
// rollback): the socket it adopted is closed once it is gone, while the
// declared one stays.
func TestAdoptionRolledBack(t *testing.T) {
	sock := openSocket(t, "tcp:127.0.0.1:0")
	var logs lockedBuffer
	listens := make(chan Listen, 2)
	ic := newAdopting(t, &logs, sock, func(l Listen) { listens <- l })
	ic.settle = time.Hour // a generation that does not take the declared socket never counts as having taken its sockets
	closed := make(chan int, 2)
	ic.closed = func(gen int) { closed <- gen }
	dir := t.TempDir()
	g1 := startAdoptGen(t, ic, 1, dir, "listen "+ic.held[0].addr)
	wait(t, listens, "Listen of gen 1")
	added := freeAddr(t, "tcp")
	g2 := startAdoptGen(t, ic, 2, dir, "listen "+added)
	if got := ic.Adopted(); len(got) != 1 || got[0].Addr != added {
		t.Fatalf("adopted %v, want %s", got, added)
	}
	g2.stop(t)
	if gen := wait(t, closed, "gen 2's listener closed"); gen != 2 {
		t.Fatalf("closed gen %d", gen)
	}
	if got := ic.Adopted(); len(got) != 0 {
		t.Errorf("the rolled-back generation's socket is still held: %v", got)
	}
	if !strings.Contains(logs.String(), `msg="adopted socket closed: no live generation binds it any more" spec=tcp4:`+added) {
		t.Errorf("no log line for the closed socket:\n%s", logs.String())
	}
	if l, err := net.Listen("tcp4", added); err != nil {
		t.Errorf("the rolled-back generation's port is still held: %v", err)
	} else {
		l.Close()
	}
	if ic.heldIndex(int(sock.File.Fd())) != 0 {
		t.Error("the declared socket is no longer held")
	}
	g1.stop(t)
}

// TestAdoptionBounded: a child that listens on more addresses than
// maxAdopted allows gets them all, but zedr-run adopts no more than that.
func TestAdoptionBounded(t *testing.T) {
	var logs lockedBuffer
	ic := newAdopting(t, &logs, nil, func(Listen) {})
	ic.maxAdopted = 2
	a, b, c := freeAddr(t, "tcp"), freeAddr(t, "tcp"), freeAddr(t, "tcp")
	g := startAdoptGen(t, ic, 1, t.TempDir(), "listen "+a+";listen "+b+";listen "+c)
	if got := ic.Adopted(); len(got) != 2 {
		t.Errorf("adopted %v, want the first 2", got)
	}
	if !strings.Contains(logs.String(), `msg="socket not adopted: too many adopted sockets open"`) {
		t.Errorf("no log line for the socket not adopted:\n%s", logs.String())
	}
	g.stop(t)
}

// TestFailedBindNotAdopted: a child whose bind() to a fixed port fails
// (the port is busy) and that listens anyway gets a port the kernel picks:
// that socket is not adopted.
func TestFailedBindNotAdopted(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var logs lockedBuffer
	ic := newAdopting(t, &logs, nil, func(Listen) {})
	g := startAdoptGen(t, ic, 1, t.TempDir(), "busy "+busy.Addr().String())
	if got := ic.Adopted(); len(got) != 0 {
		t.Errorf("adopted %v, want none: the port is the kernel's pick", got)
	}
	g.stop(t)
}

// TestBadPointerLeftToKernel: a bind() whose address the child cannot read
// fails with EFAULT, from the kernel, and leaves no warning in the log that
// a child could repeat without end.
func TestBadPointerLeftToKernel(t *testing.T) {
	var logs lockedBuffer
	ic := newAdopting(t, &logs, nil, func(Listen) {})
	g := startAdoptGen(t, ic, 1, t.TempDir(), "badaddr 127.0.0.1:0")
	g.stop(t)
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a bad address from the child logged a warning:\n%s", logs.String())
	}
}

func TestFixedAddr(t *testing.T) {
	for _, tc := range []struct {
		family int
		addr   string
		fixed  bool
	}{
		{unix.AF_INET, "127.0.0.1:0", false},
		{unix.AF_INET, "127.0.0.1:53", true},
		{unix.AF_INET6, "[::]:0", false},
		{unix.AF_INET6, "[::1]:8080", true},
		{unix.AF_UNIX, "", false},  // autobind
		{unix.AF_UNIX, "@", false}, // an empty abstract name
		{unix.AF_UNIX, "@name", true},
		{unix.AF_UNIX, "/run/app.sock", true},
		{unix.AF_NETLINK, "", false},
	} {
		if _, fixed := fixedAddr(tc.family, tc.addr); fixed != tc.fixed {
			t.Errorf("fixedAddr(%s, %q) = %v, want %v", familyName(tc.family), tc.addr, fixed, tc.fixed)
		}
	}
}

// TestBindRecordsBounded: stream binds that never listen (clients) are
// forgotten oldest first, so a generation's records stay bounded.
func TestBindRecordsBounded(t *testing.T) {
	var b bindRecords
	for ino := range uint64(10 * maxBindRecords) {
		b.put(ino, "127.0.0.1:1")
		if ino%3 == 0 {
			b.take(ino)
		}
	}
	if len(b.byIno) > maxBindRecords || len(b.order) > 2*maxBindRecords+1 {
		t.Errorf("%d records, %d in order: more than %d", len(b.byIno), len(b.order), maxBindRecords)
	}
	if _, ok := b.take(10*maxBindRecords - 2); !ok { // not a multiple of 3: never taken
		t.Error("the newest record was forgotten")
	}
	if _, ok := b.take(1); ok {
		t.Error("the oldest record was kept")
	}
}
