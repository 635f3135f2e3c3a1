package socketact

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func mustParse(t *testing.T, s string) Spec {
	t.Helper()
	spec, err := ParseSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func mustOpen(t *testing.T, s string) *Socket {
	t.Helper()
	sock, err := Open(mustParse(t, s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	return sock
}

func hasIPv6(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
}

func sockopt(t *testing.T, sock *Socket, level, opt int) int {
	t.Helper()
	v, err := unix.GetsockoptInt(int(sock.File.Fd()), level, opt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// listener returns a net.Listener on a dup of sock, closed at cleanup.
func listener(t *testing.T, sock *Socket) net.Listener {
	t.Helper()
	l, err := net.FileListener(sock.File)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// roundTrip dials addr, has l accept and greet, and checks the greeting.
func roundTrip(t *testing.T, l net.Listener, network, addr string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, err = io.WriteString(c, "hello\n")
			c.Close()
		}
		done <- err
	}()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Fatalf("read from %s: %q, %v", addr, line, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOpenTCPPortZero(t *testing.T) {
	sock := mustOpen(t, "tcp:127.0.0.1:0")
	host, port, _ := net.SplitHostPort(sock.Addr())
	if host != "127.0.0.1" || port == "0" || port == "" {
		t.Fatalf("Addr() = %q, want 127.0.0.1 with the picked port", sock.Addr())
	}
	if sock.Inherited {
		t.Error("Inherited set on an opened socket")
	}
	if v := sockopt(t, sock, unix.SOL_SOCKET, unix.SO_REUSEADDR); v != 1 {
		t.Errorf("SO_REUSEADDR = %d, want 1", v)
	}
	if v := sockopt(t, sock, unix.SOL_SOCKET, unix.SO_REUSEPORT); v != 0 {
		t.Errorf("SO_REUSEPORT = %d without reuseport", v)
	}
	flags, err := unix.FcntlInt(sock.File.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd flags %#x, %v: want FD_CLOEXEC", flags, err)
	}
	if fl, _ := unix.FcntlInt(sock.File.Fd(), unix.F_GETFL, 0); fl&unix.O_NONBLOCK != 0 {
		t.Error("socket is non-blocking, want blocking for the child")
	}
	roundTrip(t, listener(t, sock), "tcp", sock.Addr())
}

func TestOpenPortInUse(t *testing.T) {
	first := mustOpen(t, "tcp:127.0.0.1:0")
	spec := mustParse(t, "tcp:"+first.Addr())
	_, err := Open(spec)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Open of a used port: %v, want EADDRINUSE", err)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Op != "bind" || oe.Addr != first.Addr() || oe.Spec != spec {
		t.Fatalf("error %#v: want an *OpenError for bind %s", err, first.Addr())
	}
	want := "open tcp:" + first.Addr() + ": bind " + first.Addr() + ": address already in use"
	if err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
}

func TestOpenReusePort(t *testing.T) {
	first := mustOpen(t, "tcp:127.0.0.1:0,reuseport")
	if v := sockopt(t, first, unix.SOL_SOCKET, unix.SO_REUSEPORT); v != 1 {
		t.Fatalf("SO_REUSEPORT = %d, want 1", v)
	}
	second := mustOpen(t, "tcp:"+first.Addr()+",reuseport")
	if second.Addr() != first.Addr() {
		t.Fatalf("second Addr %s, want %s", second.Addr(), first.Addr())
	}
}

func TestOpenBacklog(t *testing.T) {
	somaxconn := 4096
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		somaxconn, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	for spec, want := range map[string]int{
		"tcp:127.0.0.1:0,backlog=7": 7,
		"tcp:127.0.0.1:0":           min(DefaultBacklog, somaxconn),
	} {
		sock := mustOpen(t, spec)
		// For a listening socket, TCP_INFO's tcpi_sacked is sk_max_ack_backlog.
		info, err := unix.GetsockoptTCPInfo(int(sock.File.Fd()), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatal(err)
		}
		if int(info.Sacked) != want {
			t.Errorf("%s: backlog %d, want %d", spec, info.Sacked, want)
		}
	}
}

func TestOpenDualStack(t *testing.T) {
	hasIPv6(t)
	sock := mustOpen(t, "tcp::0")
	_, port, _ := net.SplitHostPort(sock.Addr())
	if want := "[::]:" + port; sock.Addr() != want {
		t.Fatalf("Addr() = %q, want %q", sock.Addr(), want)
	}
	if v := sockopt(t, sock, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); v != 0 {
		t.Errorf("IPV6_V6ONLY = %d, want 0", v)
	}
	l := listener(t, sock)
	roundTrip(t, l, "tcp4", "127.0.0.1:"+port)
	roundTrip(t, l, "tcp6", "[::1]:"+port)
}

func TestOpenFamilies(t *testing.T) {
	hasIPv6(t)
	tests := []struct {
		spec, addrPrefix string
		family, v6only   int
	}{
		{"tcp4::0", "0.0.0.0:", unix.AF_INET, -1},
		{"tcp6::0", "[::]:", unix.AF_INET6, 1},
		{"tcp:[::1]:0", "[::1]:", unix.AF_INET6, 1}, // the kernel sets V6ONLY on a specific address
		{"tcp6:[::1]:0", "[::1]:", unix.AF_INET6, 1},
		{"tcp4:localhost:0", "127.0.0.1:", unix.AF_INET, -1},
		{"udp::0", "[::]:", unix.AF_INET6, 0},
		{"udp4::0", "0.0.0.0:", unix.AF_INET, -1},
		{"udp6::0", "[::]:", unix.AF_INET6, 1},
	}
	for _, tt := range tests {
		sock := mustOpen(t, tt.spec)
		if !strings.HasPrefix(sock.Addr(), tt.addrPrefix) {
			t.Errorf("%s: Addr() = %q, want %s...", tt.spec, sock.Addr(), tt.addrPrefix)
		}
		if f := sockopt(t, sock, unix.SOL_SOCKET, unix.SO_DOMAIN); f != tt.family {
			t.Errorf("%s: family %d, want %d", tt.spec, f, tt.family)
		}
		if tt.v6only >= 0 {
			if v := sockopt(t, sock, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); v != tt.v6only {
				t.Errorf("%s: IPV6_V6ONLY = %d, want %d", tt.spec, v, tt.v6only)
			}
		}
	}
}

func TestOpenResolveError(t *testing.T) {
	_, err := Open(mustParse(t, "tcp:no-such-host.invalid:80"))
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Op != "resolve" {
		t.Fatalf("Open of an unresolvable host: %v, want an *OpenError for resolve", err)
	}
}

func TestOpenUDP(t *testing.T) {
	sock := mustOpen(t, "udp:127.0.0.1:0")
	if v := sockopt(t, sock, unix.SOL_SOCKET, unix.SO_TYPE); v != unix.SOCK_DGRAM {
		t.Fatalf("SO_TYPE = %d, want SOCK_DGRAM", v)
	}
	pc, err := net.FilePacketConn(sock.File)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := net.Dial("udp", sock.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, _, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// sockPath returns a short socket path in a fresh temporary directory.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sa")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

func TestOpenUnix(t *testing.T) {
	path := sockPath(t)
	sock := mustOpen(t, "unix:"+path)
	if sock.Addr() != path {
		t.Fatalf("Addr() = %q, want %q", sock.Addr(), path)
	}
	roundTrip(t, listener(t, sock), "unix", path)
	if err := sock.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file after Close: %v, want removed", err)
	}
}

func TestOpenUnixStaleReplaced(t *testing.T) {
	path := sockPath(t)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close() // the file stays, nobody listens: stale
	sock := mustOpen(t, "unix:"+path)
	roundTrip(t, listener(t, sock), "unix", path)
}

func TestOpenUnixInUse(t *testing.T) {
	path := sockPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, spec := range []string{"unix:" + path, "unixgram:" + path} {
		_, err = Open(mustParse(t, spec))
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("Open %s of a live socket: %v, want EADDRINUSE", spec, err)
		}
	}
	// Still there and served (our probes wait in its accept queue).
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("live socket file: %v, %v", fi, err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestOpenUnixFullBacklogInUse(t *testing.T) {
	path := sockPath(t)
	first := mustOpen(t, "unix:"+path+",backlog=1")
	for range 4 { // fill the accept queue; further connects would block
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	}
	_, err := Open(first.Spec)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Open of a socket with a full queue: %v, want EADDRINUSE", err)
	}
}

func TestOpenUnixNotSocket(t *testing.T) {
	path := sockPath(t)
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(mustParse(t, "unix:"+path))
	if !errors.Is(err, ErrNotSocket) {
		t.Fatalf("Open over a regular file: %v, want ErrNotSocket", err)
	}
	if !strings.Contains(err.Error(), "regular file") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path and the kind of file", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatalf("regular file changed: %q", b)
	}
	dir := sockPath(t)
	os.Mkdir(dir, 0o700)
	if _, err := Open(mustParse(t, "unixgram:"+dir)); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("Open over a directory: %v, want ErrNotSocket", err)
	}
}

func TestOpenUnixMissingDir(t *testing.T) {
	path := filepath.Join(sockPath(t), "nodir", "s.sock")
	_, err := Open(mustParse(t, "unix:"+path))
	var oe *OpenError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &oe) || oe.Addr != path {
		t.Fatalf("Open in a missing directory: %v, want ENOENT naming %s", err, path)
	}
}

func TestOpenUnixModeOwner(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Skip(err)
	}
	for _, owner := range []string{u.Username + ":" + g.Name, u.Uid + ":" + u.Gid, u.Username, ":" + g.Name} {
		path := sockPath(t)
		mustOpen(t, "unix:"+path+",mode=0640,owner="+owner)
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != fs.ModeSocket|0o640 {
			t.Errorf("mode %v, want socket 0640", fi.Mode())
		}
		st := fi.Sys().(*syscall.Stat_t)
		if strconv.Itoa(int(st.Uid)) != u.Uid || strconv.Itoa(int(st.Gid)) != u.Gid {
			t.Errorf("owner %d:%d, want %s:%s", st.Uid, st.Gid, u.Uid, u.Gid)
		}
	}
	path := sockPath(t)
	_, err = Open(mustParse(t, "unix:"+path+",owner=no-such-user-zedr"))
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Op != "chown" {
		t.Fatalf("unknown owner: %v, want an *OpenError for chown", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed Open left %s behind", path)
	}
}

func TestOpenUnixRelative(t *testing.T) {
	t.Chdir(filepath.Dir(sockPath(t)))
	sock := mustOpen(t, "unix:rel.sock")
	if sock.Addr() != "rel.sock" {
		t.Fatalf("Addr() = %q", sock.Addr())
	}
	roundTrip(t, listener(t, sock), "unix", "rel.sock")
}

func TestOpenUnixAbstract(t *testing.T) {
	name := "@zedr-socketact-test-" + strconv.Itoa(os.Getpid())
	sock := mustOpen(t, "unix:"+name)
	if sock.Addr() != name {
		t.Fatalf("Addr() = %q, want %q", sock.Addr(), name)
	}
	roundTrip(t, listener(t, sock), "unix", name)
}

func TestOpenUnixgramAndPacket(t *testing.T) {
	path := sockPath(t)
	sock := mustOpen(t, "unixgram:"+path)
	pc, err := net.FilePacketConn(sock.File)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := net.Dial("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("dgram"))
	c.Close()
	buf := make([]byte, 16)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := pc.ReadFrom(buf); err != nil || string(buf[:n]) != "dgram" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	ppath := sockPath(t)
	psock := mustOpen(t, "unixpacket:"+ppath)
	if v := sockopt(t, psock, unix.SOL_SOCKET, unix.SO_TYPE); v != unix.SOCK_SEQPACKET {
		t.Fatalf("SO_TYPE = %d, want SOCK_SEQPACKET", v)
	}
	roundTrip(t, listener(t, psock), "unixpacket", ppath)
}

func TestCloseKeepsReplacedFile(t *testing.T) {
	path := sockPath(t)
	sock := mustOpen(t, "unix:"+path)
	other := path + ".new"
	os.WriteFile(other, []byte("new"), 0o600)
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	sock.Close()
	if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
		t.Fatalf("Close removed or changed a file it did not create: %q, %v", b, err)
	}
}

func TestOpenAllClosesOnError(t *testing.T) {
	busy := mustOpen(t, "tcp:127.0.0.1:0")
	path := sockPath(t)
	specs := []Spec{mustParse(t, "unix:"+path), mustParse(t, "tcp:"+busy.Addr())}
	socks, err := OpenAll(specs)
	if !errors.Is(err, syscall.EADDRINUSE) || socks != nil {
		t.Fatalf("OpenAll = %v, %v; want EADDRINUSE", socks, err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenAll left the first socket open: %v", err)
	}
	socks, err = OpenAll(specs[:1])
	if err != nil || len(socks) != 1 || socks[0].Inherited {
		t.Fatalf("OpenAll = %v, %v", socks, err)
	}
	socks[0].Close()
}

func TestOpenUnparsedSpec(t *testing.T) {
	for _, s := range []Spec{{}, {Network: "sctp", Address: ":1"}, {Network: "tcp", Address: "nonsense"}} {
		var oe *OpenError
		if _, err := Open(s); !errors.As(err, &oe) {
			t.Errorf("Open(%#v) = %v, want an *OpenError", s, err)
		}
	}
}
