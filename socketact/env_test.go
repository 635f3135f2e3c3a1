package socketact

import (
	"slices"
	"strings"
	"testing"
)

func TestChildEnv(t *testing.T) {
	socks := []*Socket{
		{Spec: Spec{Network: "tcp", Address: "127.0.0.1:8080", Name: "web"}, addr: "127.0.0.1:8080"},
		{Spec: Spec{Network: "tcp", Address: ":9090"}, addr: "[::]:9090"},
		{Spec: Spec{Network: "tcp4", Address: ":0"}, addr: "0.0.0.0:41000"},
		{Spec: Spec{Network: "tcp6", Address: "[::1]:7"}, addr: "[::1]:7"},
		{Spec: Spec{Network: "unix", Address: "/run/app.sock"}, addr: "/run/app.sock"},
	}
	got := ChildEnv(socks, []string{"einhorn", "server-starter", "nginx", "bogus"})
	want := []string{
		"LISTEN_FDS=5",
		"LISTEN_FDNAMES=web:tcp-9090:tcp4-0:tcp6-[-1]-7:unix-/run/app.sock",
		"EINHORN_FD_COUNT=5",
		"EINHORN_FD_0=3", "EINHORN_FD_1=4", "EINHORN_FD_2=5", "EINHORN_FD_3=6", "EINHORN_FD_4=7",
		"EINHORN_FDS=3 4 5 6 7",
		"SERVER_STARTER_PORT=127.0.0.1:8080=3;9090=4;41000=5;[::1]:7=6;/run/app.sock=7",
		"NGINX=3;4;5;6;7;",
	}
	if !slices.Equal(got, want) {
		t.Errorf("ChildEnv:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if env := ChildEnv(socks[:1], nil); !slices.Equal(env, []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=web"}) {
		t.Errorf("ChildEnv without compat: %q", env)
	}
	if env := ChildEnv(nil, []string{"nginx"}); env != nil {
		t.Errorf("ChildEnv(nil) = %q, want nil", env)
	}
}

func TestCheckCompat(t *testing.T) {
	for _, name := range CompatNames() {
		if err := CheckCompat(name); err != nil {
			t.Errorf("CheckCompat(%q): %v", name, err)
		}
	}
	err := CheckCompat("systemd")
	if err == nil || err.Error() != `unknown compat name "systemd": want one of einhorn, server-starter, nginx` {
		t.Errorf("CheckCompat(systemd) = %v", err)
	}
}

func TestStripEnv(t *testing.T) {
	env := []string{
		"PATH=/bin", "LISTEN_FDS=2", "LISTEN_PID=9", "LISTEN_FDNAMES=a:b", "NOTIFY_SOCKET=/run/n",
		"EINHORN_FD_COUNT=1", "EINHORN_FD_0=3", "EINHORN_FD_12=4", "EINHORN_FDS=3",
		"SERVER_STARTER_PORT=80=3", "NGINX=3;", "EINHORN_FD_X=keep", "EINHORN_FD_=keep",
		"LISTEN_FDS_X=keep", "HOME=/root", "NGINX_CONF=keep", "ZEDR_GENERATION=1", "weird",
	}
	orig := slices.Clone(env)
	got := StripEnv(env)
	want := []string{
		"PATH=/bin", "EINHORN_FD_X=keep", "EINHORN_FD_=keep", "LISTEN_FDS_X=keep",
		"HOME=/root", "NGINX_CONF=keep", "ZEDR_GENERATION=1", "weird",
	}
	if !slices.Equal(got, want) {
		t.Errorf("StripEnv = %q, want %q", got, want)
	}
	if !slices.Equal(env, orig) {
		t.Error("StripEnv modified its argument")
	}
}

func TestParseListenEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		n       int
		names   []string
		wantErr string
	}{
		{env: nil},
		{env: map[string]string{"LISTEN_FDS": "2"}}, // no LISTEN_PID: not for us
		{env: map[string]string{"LISTEN_PID": "99", "LISTEN_FDS": "2"}},
		{env: map[string]string{"LISTEN_PID": "42"}},
		{env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "0"}},
		{env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "2"}, n: 2, names: []string{"unknown", "unknown"}},
		{env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}, n: 2, names: []string{"a", "b"}},
		{env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:"}, n: 2, names: []string{"a", "unknown"}},
		{env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a"}, wantErr: "LISTEN_FDNAMES has 1 names for LISTEN_FDS=2"},
		{env: map[string]string{"LISTEN_PID": "x", "LISTEN_FDS": "2"}, wantErr: `LISTEN_PID="x": not a pid`},
		{env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "-1"}, wantErr: `LISTEN_FDS="-1": not a number 0-65536`},
		{env: map[string]string{"LISTEN_PID": "42", "LISTEN_FDS": "two"}, wantErr: `LISTEN_FDS="two": not a number 0-65536`},
	}
	for _, tt := range tests {
		n, names, err := parseListenEnv(func(k string) string { return tt.env[k] }, 42)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%v: error %v, want %q", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || n != tt.n || !slices.Equal(names, tt.names) {
			t.Errorf("%v: got %d %q %v, want %d %q", tt.env, n, names, err, tt.n, tt.names)
		}
	}
}
