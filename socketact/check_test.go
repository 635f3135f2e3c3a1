package socketact

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSpecs(t *testing.T) {
	for _, tc := range []struct {
		specs []string
		want  string // "" for no error, else part of the message
	}{
		{[]string{"tcp::8080", "tcp::8080,name=x"}, "duplicate of tcp::8080: both bind tcp [::]:8080"},
		{[]string{"tcp4:127.0.0.1:80", "tcp:127.0.0.1:80"}, "both bind tcp 127.0.0.1:80"},
		{[]string{"tcp6:[::1]:80", "tcp:[::1]:80,backlog=5"}, "both bind tcp [::1]:80"},
		{[]string{"tcp::80", "tcp4::80"}, "both bind tcp 0.0.0.0:80"},
		{[]string{"tcp::80", "tcp6::80"}, "both bind tcp [::]:80"},
		{[]string{"tcp:0.0.0.0:80", "tcp4::80"}, "both bind tcp 0.0.0.0:80"},
		{[]string{"tcp:[::]:80", "tcp4:0.0.0.0:80"}, "both bind tcp 0.0.0.0:80"},
		{[]string{"udp::53", "udp:[::]:53"}, "both bind udp [::]:53"},
		{[]string{"tcp:localhost:80", "tcp:LocalHost:80"}, "both bind tcp localhost:80"},
		{[]string{"unix:/run/a.sock", "unixgram:/run//x/../a.sock"}, "both bind unix path /run/a.sock"},
		{[]string{"unix:@name", "unix:@name,name=b"}, "both bind unix abstract @name"},
		{[]string{"tcp4::80", "tcp6::80"}, ""},
		{[]string{"tcp::80", "udp::80"}, ""},
		{[]string{"tcp:127.0.0.1:0", "tcp:127.0.0.1:0"}, ""},
		{[]string{"tcp::80,reuseport", "tcp::80,reuseport"}, ""},
		{[]string{"tcp::80,reuseport", "tcp::80"}, "duplicate"},
		{[]string{"tcp:127.0.0.1:80", "tcp:127.0.0.2:80"}, ""},
		{[]string{"unix:@name", "unixgram:@name"}, ""},
		{[]string{"unix:/run/a.sock", "unix:/run/b.sock"}, ""},
		{[]string{"unix:/run/a.sock,owner=no-such-user-zedr"}, `owner=no-such-user-zedr: user "no-such-user-zedr": no such user`},
		{[]string{"unix:/run/a.sock,owner=root:no-such-group-zedr"}, `group "no-such-group-zedr": no such group`},
		{[]string{"unix:/run/a.sock,owner=12345:54321"}, ""},
		{[]string{"unix:/run/a.sock,owner=root:root"}, ""},
	} {
		var specs []Spec
		for _, str := range tc.specs {
			s, err := ParseSpec(str)
			if err != nil {
				t.Fatal(err)
			}
			specs = append(specs, s)
		}
		err := CheckSpecs(specs)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckSpecs(%q): %v, want no error", tc.specs, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckSpecs(%q): %v, want an error with %q", tc.specs, err, tc.want)
		case err != nil && !errors.As(err, new(*SpecError)):
			t.Errorf("CheckSpecs(%q): %T, want a *SpecError", tc.specs, err)
		}
	}
}
