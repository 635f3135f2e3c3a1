package reexec

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOrderGolden: the order's encoding is fixed (a change of the format
// should be deliberate), and decodes to what was encoded.
func TestOrderGolden(t *testing.T) {
	o := Order{
		Path:      "/bin/server",
		Argv:      []string{"server", "-p", "8080", ""},
		Env:       []string{"LISTEN_FDS=2", "ZEDR_GENERATION=3", "EMPTY="},
		Intercept: Intercept{Bind: true, Unlink: true},
	}
	b, err := EncodeOrder(o)
	if err != nil {
		t.Fatal(err)
	}
	const golden = "zedr-run-order/1\x00--intercept=bind,unlink\x00/bin/server\x004\x00server\x00-p\x008080\x00\x00LISTEN_FDS=2\x00ZEDR_GENERATION=3\x00EMPTY=\x00"
	if string(b) != golden {
		t.Errorf("encoded\n%q\nwant\n%q", b, golden)
	}
	got, err := DecodeOrder(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("round trip: %+v, want %+v", got, o)
	}
	// No environment, no interception.
	o = Order{Path: "/bin/true", Argv: []string{"true"}}
	b, _ = EncodeOrder(o)
	if got, err := DecodeOrder(b); err != nil || got.Path != o.Path || len(got.Argv) != 1 || len(got.Env) != 0 || got.Intercept.Bind {
		t.Errorf("round trip of %+v: %+v, %v", o, got, err)
	}
}

// TestOrderRefused: what is not an order of this version, or could not be
// one, is refused, and an order too large for one datagram is never sent.
func TestOrderRefused(t *testing.T) {
	for _, bad := range []string{
		"",
		"zedr-run-order/1", // not NUL-terminated
		"zedr-run-order/0\x00\x00/bin/x\x001\x00x\x00",                // another version
		"zedr-run-order/1\x00\x00\x001\x00x\x00",                      // no path
		"zedr-run-order/1\x00\x00/bin/x\x000\x00x\x00",                // no argv[0]
		"zedr-run-order/1\x00\x00/bin/x\x003\x00x\x00",                // fewer arguments than it says
		"zedr-run-order/1\x00\x00/bin/x\x00-1\x00x\x00",               // negative count
		"zedr-run-order/1\x00--intercept=all\x00/bin/x\x001\x00x\x00", // unknown interception
	} {
		if o, err := DecodeOrder([]byte(bad)); err == nil {
			t.Errorf("DecodeOrder(%q) accepted: %+v", bad, o)
		}
	}
	for _, o := range []Order{
		{Argv: []string{"x"}},
		{Path: "/bin/x"},
		{Path: "/bin/x", Argv: []string{"x\x00y"}},
		{Path: "/bin/x", Argv: []string{"x"}, Env: []string{"BIG=" + strings.Repeat("x", MaxOrder)}},
	} {
		if _, err := EncodeOrder(o); err == nil {
			t.Errorf("EncodeOrder accepted %.80s", o.Argv)
		}
	}
}

// TestAwaitOrder: the order arrives whole on a blocking channel; EOF before
// it is the spare's cue to leave.
func TestAwaitOrder(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pair[1]) })
	o := Order{Path: "/bin/true", Argv: []string{"true"}, Env: []string{"A=" + strings.Repeat("a", 100<<10)}}
	b, err := EncodeOrder(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(pair[0], b); err != nil {
		t.Fatal(err)
	}
	got, err := awaitOrder(pair[1])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("received %.120v, want %.120v", got, o)
	}
	unix.Close(pair[0])
	if _, err := awaitOrder(pair[1]); err != errNoOrder {
		t.Errorf("after EOF: %v, want errNoOrder", err)
	}
}
