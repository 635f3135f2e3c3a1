package intercept

import (
	"log/slog"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
	"zedr-run/reexec"
	"zedr-run/socketact"
)

func TestParseSockaddr(t *testing.T) {
	in4 := []byte{unix.AF_INET, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}
	in6 := make([]byte, unix.SizeofSockaddrInet6)
	in6[0], in6[2], in6[3] = unix.AF_INET6, 0x1f, 0x90 // [::]:8080
	un := append([]byte{unix.AF_UNIX, 0}, "/run/app.sock\x00"...)
	abstract := append([]byte{unix.AF_UNIX, 0, 0}, "name"...)
	for _, tc := range []struct {
		raw    []byte
		family int
		addr   string
	}{
		{in4, unix.AF_INET, "127.0.0.1:8080"},
		{in6, unix.AF_INET6, "[::]:8080"},
		{un, unix.AF_UNIX, "/run/app.sock"},
		{abstract, unix.AF_UNIX, "@name"},
	} {
		family, addr, err := parseSockaddr(tc.raw)
		if err != nil || family != tc.family || addr != tc.addr {
			t.Errorf("parseSockaddr(%v) = %d, %q, %v; want %d, %q", tc.raw, family, addr, err, tc.family, tc.addr)
		}
	}
	if _, _, err := parseSockaddr(in4[:8]); err == nil {
		t.Error("a short AF_INET address was accepted")
	}
	// What zedr-run's own socket reports must compare equal.
	if got := sockaddrString(&unix.SockaddrInet6{Port: 8080}); got != "[::]:8080" {
		t.Errorf("sockaddrString([::]:8080) = %q", got)
	}
	if got := sockaddrString(&unix.SockaddrInet4{Port: 8080, Addr: [4]byte{127, 0, 0, 1}}); got != "127.0.0.1:8080" {
		t.Errorf("sockaddrString(127.0.0.1:8080) = %q", got)
	}
}

func TestMatchTreatsMPTCPAsTCP(t *testing.T) {
	ic := &Interceptor{held: []*heldSocket{{family: unix.AF_INET, sotype: unix.SOCK_STREAM, protocol: unix.IPPROTO_TCP, addr: "127.0.0.1:8080"}}}
	if ic.match(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP, "127.0.0.1:8080") != 0 {
		t.Error("an MPTCP bind did not match the TCP socket")
	}
	if ic.match(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_UDP, "127.0.0.1:8080") != -1 {
		t.Error("a UDP bind matched the TCP socket")
	}
	if ic.match(unix.AF_INET6, unix.SOCK_STREAM, unix.IPPROTO_TCP, "[::]:8080") != -1 {
		t.Error("an IPv6 bind matched the IPv4 socket")
	}
}

// TestNewUnixPath: a held unix socket path is matched as an absolute path
// and makes the shim intercept unlink() too.
func TestNewUnixPath(t *testing.T) {
	if err := seccomp.Check(); err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), "app.sock")
	sock := openSocket(t, "unix:"+path)
	ic, err := New([]*socketact.Socket{sock}, false, slog.Default(), func(Listen) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ic.ShimIntercept(); got != (reexec.Intercept{Bind: true, Unlink: true}) {
		t.Errorf("ShimIntercept() = %+v with a unix socket path", got)
	}
	if !ic.paths[path] {
		t.Errorf("unlink(%s) would not be faked: %v", path, ic.paths)
	}
	if ic.match(unix.AF_UNIX, unix.SOCK_STREAM, 0, path) != 0 {
		t.Errorf("bind(%s) does not match", path)
	}
}
