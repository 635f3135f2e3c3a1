//go:build linux

package main

import (
	"net"
	"strings"
	"testing"
)

// TestHTTPOption: --help teaches --http; a value that is no HOST:PORT is a
// usage error, an address in use a startup failure.
func TestHTTPOption(t *testing.T) {
	code, out := runCLI(t, "--help")
	if code != 0 {
		t.Fatalf("zedr-run --help: exit %d\n%s", code, out)
	}
	for _, want := range []string{"--http ADDR", "ZEDR_HTTP", "/healthz", "/readyz", "/metrics"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no port", []string{"--http", "127.0.0.1", "--", "true"}, 2, `bad --http "127.0.0.1": want HOST:PORT`},
		{"address in use", []string{"--listen", "tcp:127.0.0.1:0", "--http", busy.Addr().String(), "--", "true"}, 1, "--http: listen tcp " + busy.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("zedr-run %s\nexit %d, stderr:\n%s\nwant exit %d and a message with %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.msg)
			}
		})
	}
}
