package socketact

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in     string
		want   Spec
		canon  string // String(); "" means in
		fdname string
	}{
		{"tcp::8080", Spec{Network: "tcp", Address: ":8080"}, "", "tcp-8080"},
		{"tcp:127.0.0.1:8080", Spec{Network: "tcp", Address: "127.0.0.1:8080"}, "", "tcp-127.0.0.1-8080"},
		{"tcp:[::1]:8080", Spec{Network: "tcp", Address: "[::1]:8080"}, "", "tcp-[-1]-8080"},
		{"tcp:[0:0::1]:08080", Spec{Network: "tcp", Address: "[::1]:8080"}, "tcp:[::1]:8080", "tcp-[-1]-8080"},
		{"tcp:[fe80::1%lo]:80", Spec{Network: "tcp", Address: "[fe80::1%lo]:80"}, "", "tcp-[fe80-1%lo]-80"},
		{"tcp4::8080", Spec{Network: "tcp4", Address: ":8080"}, "", "tcp4-8080"},
		{"tcp6::8080", Spec{Network: "tcp6", Address: ":8080"}, "", "tcp6-8080"},
		{"tcp6:[::ffff:1.2.3.4]:1", Spec{Network: "tcp6", Address: "[::ffff:1.2.3.4]:1"}, "", "tcp6-[-ffff-1.2.3.4]-1"},
		{"tcp:localhost:0", Spec{Network: "tcp", Address: "localhost:0"}, "", "tcp-localhost-0"},
		{"tcp:example.com.:65535", Spec{Network: "tcp", Address: "example.com.:65535"}, "", "tcp-example.com.-65535"},
		{"udp::5353", Spec{Network: "udp", Address: ":5353"}, "", "udp-5353"},
		{"udp4:0.0.0.0:53", Spec{Network: "udp4", Address: "0.0.0.0:53"}, "", "udp4-0.0.0.0-53"},
		{"udp6:[::]:53,reuseport", Spec{Network: "udp6", Address: "[::]:53", ReusePort: true}, "", "udp6-[-]-53"},
		{"unix:/run/app.sock", Spec{Network: "unix", Address: "/run/app.sock"}, "", "unix-/run/app.sock"},
		{"unix:rel/app.sock", Spec{Network: "unix", Address: "rel/app.sock"}, "", "unix-rel/app.sock"},
		{"unix:/run/a:b.sock", Spec{Network: "unix", Address: "/run/a:b.sock"}, "", "unix-/run/a-b.sock"},
		{"unix:@abstract", Spec{Network: "unix", Address: "@abstract"}, "", "unix-@abstract"},
		{"unixgram:/tmp/x.sock", Spec{Network: "unixgram", Address: "/tmp/x.sock"}, "", "unixgram-/tmp/x.sock"},
		{"unixpacket:/tmp/p.sock,backlog=5", Spec{Network: "unixpacket", Address: "/tmp/p.sock", Backlog: 5}, "", "unixpacket-/tmp/p.sock"},
		{"tcp::80,name=web", Spec{Network: "tcp", Address: ":80", Name: "web"}, "", "web"},
		{"tcp::80,name=a b=c", Spec{Network: "tcp", Address: ":80", Name: "a b=c"}, "", "a b=c"},
		{"tcp::80,backlog=128", Spec{Network: "tcp", Address: ":80", Backlog: 128}, "", "tcp-80"},
		{"tcp::80,reuseport", Spec{Network: "tcp", Address: ":80", ReusePort: true}, "", "tcp-80"},
		{"unix:/s,mode=0660", Spec{Network: "unix", Address: "/s", Mode: 0o660}, "", "unix-/s"},
		{"unix:/s,mode=660", Spec{Network: "unix", Address: "/s", Mode: 0o660}, "unix:/s,mode=0660", "unix-/s"},
		{"unix:/s,mode=04755", Spec{Network: "unix", Address: "/s", Mode: 0o755 | os.ModeSetuid}, "", "unix-/s"},
		{"unix:/s,mode=07777", Spec{Network: "unix", Address: "/s", Mode: 0o777 | os.ModeSetuid | os.ModeSetgid | os.ModeSticky}, "", "unix-/s"},
		{"unix:/s,owner=www-data:www-data", Spec{Network: "unix", Address: "/s", Owner: "www-data:www-data"}, "", "unix-/s"},
		{"unix:/s,owner=www-data", Spec{Network: "unix", Address: "/s", Owner: "www-data"}, "", "unix-/s"},
		{"unix:/s,owner=:33", Spec{Network: "unix", Address: "/s", Owner: ":33"}, "", "unix-/s"},
		{
			"unix:/s,owner=a:b,mode=0600,name=n,backlog=1",
			Spec{Network: "unix", Address: "/s", Name: "n", Backlog: 1, Mode: 0o600, Owner: "a:b"},
			"unix:/s,name=n,backlog=1,mode=0600,owner=a:b", "n",
		},
		{"tcp::0", Spec{Network: "tcp", Address: ":0"}, "", "tcp-0"},
		{"unix:/" + strings.Repeat("x", 106), Spec{Network: "unix", Address: "/" + strings.Repeat("x", 106)}, "", "unix-/" + strings.Repeat("x", 106)},
		{"unix:@" + strings.Repeat("x", 106), Spec{Network: "unix", Address: "@" + strings.Repeat("x", 106)}, "", "unix-@" + strings.Repeat("x", 106)},
		{"tcp::1,name=" + strings.Repeat("n", 255), Spec{Network: "tcp", Address: ":1", Name: strings.Repeat("n", 255)}, "", strings.Repeat("n", 255)},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseSpec(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		canon := tt.canon
		if canon == "" {
			canon = tt.in
		}
		if s := got.String(); s != canon {
			t.Errorf("ParseSpec(%q).String() = %q, want %q", tt.in, s, canon)
		}
		if n := got.FDName(); n != tt.fdname {
			t.Errorf("ParseSpec(%q).FDName() = %q, want %q", tt.in, n, tt.fdname)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	const protos = "tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram, unixpacket"
	tests := []struct{ in, reason string }{
		{"", "want PROTO:ADDRESS such as tcp::8080 or tcp:127.0.0.1:8080"},
		{"8080", "want PROTO:ADDRESS such as tcp::8080 or tcp:127.0.0.1:8080"},
		{"tcp", "missing address: want PROTO:ADDRESS such as tcp::8080 or tcp:127.0.0.1:8080"},
		{"tcp:8080", "want PROTO:ADDRESS such as tcp::8080 or tcp:127.0.0.1:8080"},
		{"tcp:", "want PROTO:ADDRESS such as tcp::8080 or tcp:127.0.0.1:8080"},
		{"sctp::80", `unknown protocol "sctp": want one of ` + protos},
		{"TCP::80", `unknown protocol "TCP": want one of ` + protos},
		{"http://x:80", `unknown protocol "http": want one of ` + protos},
		{"tcp:127.0.0.1:", "missing port: want a number 0-65535 (0: the kernel picks one)"},
		{"tcp::", "missing port: want a number 0-65535 (0: the kernel picks one)"},
		{"tcp::65536", `bad port "65536": want a number 0-65535 (0: the kernel picks one)`},
		{"tcp::-1", `bad port "-1": want a number 0-65535 (0: the kernel picks one)`},
		{"tcp::+80", `bad port "+80": want a number 0-65535 (0: the kernel picks one)`},
		{"tcp::http", `bad port "http": want a number 0-65535 (0: the kernel picks one)`},
		{"tcp:::1:80", "IPv6 address must be in brackets, such as tcp:[::1]:8080"},
		{"tcp:[::1:80", `bad address "[::1:80": want HOST:PORT, [IPv6]:PORT or :PORT`},
		{"tcp:[]:80", "empty brackets: want [IPv6]:PORT or :PORT"},
		{"tcp:[1.2.3.4]:80", "brackets are for IPv6 addresses, not 1.2.3.4"},
		{"tcp:[zz::1]:80", `bad IPv6 address "zz::1"`},
		{"tcp:1.2.3.256:80", `bad IPv4 address "1.2.3.256"`},
		{"tcp:01.2.3.4:80", `bad IPv4 address "01.2.3.4"`},
		{"tcp:a..b:80", `bad hostname "a..b"`},
		{"tcp:a b:80", `bad hostname "a b": ' ' is not a letter, digit, '-' or '_'`},
		{"tcp4:[::1]:80", "tcp4 needs an IPv4 address, not ::1"},
		{"udp6:1.2.3.4:80", "udp6 needs an IPv6 address, not 1.2.3.4"},
		{"unix:", "empty unix path"},
		{"unixgram:", "empty unix path"},
		{"unix:@", "empty abstract socket name after '@'"},
		{"unix:/a\x00b", "unix path contains a NUL byte"},
		{"unix:/" + strings.Repeat("x", 107), "unix path is 108 bytes, at most 107 fit in sockaddr_un"},
		{"tcp::80,", "empty option (a stray ',')"},
		{"tcp::80,,name=a", "empty option (a stray ',')"},
		{"tcp::80,nmae=web", `unknown option "nmae": want name=, backlog=, reuseport, mode= or owner=`},
		{"tcp::80,name=a,name=b", `duplicate option "name"`},
		{"tcp::80,reuseport,reuseport", `duplicate option "reuseport"`},
		{"tcp::80,name", "option name needs a value: name=..."},
		{"tcp::80,name=", "option name needs a value: name=..."},
		{"tcp::80,name=a:b", "name may not contain ':' (it separates LISTEN_FDNAMES)"},
		{"tcp::80,name=a\tb", "name must be printable ASCII"},
		{"tcp::80,name=caf\u00e9", "name must be printable ASCII"},
		{"tcp::80,name=" + strings.Repeat("n", 256), "name is 256 bytes, at most 255"},
		{"tcp::80,backlog=0", `bad backlog "0": want a number 1-2147483647`},
		{"tcp::80,backlog=-5", `bad backlog "-5": want a number 1-2147483647`},
		{"tcp::80,backlog=lots", `bad backlog "lots": want a number 1-2147483647`},
		{"tcp::80,backlog=2147483648", `bad backlog "2147483648": want a number 1-2147483647`},
		{"udp::53,backlog=10", "backlog applies only to stream sockets (tcp, unix, unixpacket), not udp"},
		{"unixgram:/x,backlog=10", "backlog applies only to stream sockets (tcp, unix, unixpacket), not unixgram"},
		{"tcp::80,reuseport=1", "reuseport takes no value"},
		{"unix:/x,reuseport", "reuseport applies only to tcp and udp"},
		{"unix:/x,mode=0680", `bad mode "0680": want octal permissions 1-07777 such as 0660`},
		{"unix:/x,mode=010000", `bad mode "010000": want octal permissions 1-07777 such as 0660`},
		{"unix:/x,mode=0", `bad mode "0": want octal permissions 1-07777 such as 0660`},
		{"unix:/x,mode=rw", `bad mode "rw": want octal permissions 1-07777 such as 0660`},
		{"unix:/x,mode=", "option mode needs a value: mode=..."},
		{"tcp::80,mode=0660", "mode applies only to unix socket paths"},
		{"unix:@x,mode=0660", "mode applies only to unix socket paths"},
		{"udp::80,owner=root", "owner applies only to unix socket paths"},
		{"unix:@x,owner=root", "owner applies only to unix socket paths"},
		{"unix:/x,owner=", "option owner needs a value: owner=..."},
		{"unix:/x,owner=a:", `bad owner "a:": want USER, USER:GROUP or :GROUP`},
		{"unix:/x,owner=a:b:c", `bad owner "a:b:c": want USER, USER:GROUP or :GROUP`},
		{"unix:/x,owner=:", `bad owner ":": want USER, USER:GROUP or :GROUP`},
	}
	for _, tt := range tests {
		s, err := ParseSpec(tt.in)
		var se *SpecError
		if !errors.As(err, &se) {
			t.Errorf("ParseSpec(%q) = %v, %v; want a *SpecError", tt.in, s, err)
			continue
		}
		if se.Spec != tt.in || se.Reason != tt.reason {
			t.Errorf("ParseSpec(%q): got reason\n\t%s\nwant\n\t%s", tt.in, se.Reason, tt.reason)
		}
		if s != (Spec{}) {
			t.Errorf("ParseSpec(%q) returned %#v with its error", tt.in, s)
		}
	}
	_, err := ParseSpec("tcp:8080")
	if want := `bad socket spec "tcp:8080": want PROTO:ADDRESS such as tcp::8080 or tcp:127.0.0.1:8080`; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
}

func TestStream(t *testing.T) {
	for _, p := range Protocols() {
		want := p != "udp" && p != "udp4" && p != "udp6" && p != "unixgram"
		if got := (Spec{Network: p}).Stream(); got != want {
			t.Errorf("Spec{Network: %q}.Stream() = %v", p, got)
		}
	}
}

func TestFDNameSanitized(t *testing.T) {
	long := Spec{Network: "unix", Address: "/" + strings.Repeat("x", 106)}
	long.Address = strings.Repeat("\xff", 300) // not parseable, but FDName must still be valid
	for _, s := range []Spec{long, {}, {Network: "unix", Address: "/a\x01b"}} {
		assertValidFDName(t, s)
	}
}

func assertValidFDName(t *testing.T, s Spec) {
	t.Helper()
	n := s.FDName()
	if n == "" || len(n) > 255 || strings.ContainsAny(n, ":") {
		t.Errorf("%#v.FDName() = %q: not a valid LISTEN_FDNAMES entry", s, n)
	}
	for _, c := range []byte(n) {
		if c < ' ' || c > '~' {
			t.Errorf("%#v.FDName() = %q: not printable ASCII", s, n)
			break
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"tcp::8080", "tcp:127.0.0.1:8080", "tcp:[::1]:8080", "tcp4::8080", "tcp6::8080",
		"udp::5353", "unix:/run/app.sock", "unix:@abstract", "unixgram:/tmp/x.sock",
		"unixpacket:p,backlog=7", "tcp:[fe80::1%eth0]:0", "tcp:localhost:80,reuseport",
		"tcp::80,name=web,backlog=128,reuseport", "unix:/s,mode=0660,owner=www-data:www-data",
		"unix:/s,owner=:0", "tcp:8080", "tcp:::1:80", "tcp::80,name=a:b", "unix:/x,mode=9",
		"udp6:[::ffff:1.2.3.4]:1", "tcp:[0::1]:00080",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSpec(in)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) || se.Spec != in || se.Reason == "" {
				t.Fatalf("ParseSpec(%q): error %v is not a proper *SpecError", in, err)
			}
			return
		}
		out := s.String()
		s2, err := ParseSpec(out)
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %#v, but its String %q does not parse: %v", in, s, out, err)
		}
		if s2 != s {
			t.Fatalf("round trip of %q through %q: got %#v, want %#v", in, out, s2, s)
		}
		if out2 := s2.String(); out2 != out {
			t.Fatalf("String not canonical: %q then %q", out, out2)
		}
		assertValidFDName(t, s)
	})
}
