//go:build linux

package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestBuildVersion: without -ldflags, the version is the module version
// and VCS revision the Go toolchain recorded in the binary.
func TestBuildVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name string
		set  string
		info *debug.BuildInfo
		want string
	}{
		{"ldflags win", "v9.9.9", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v9.9.9"},
		{"go install", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"checkout", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "dev-0123456789ab"},
		{"modified checkout", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, "dev-0123456789ab-dirty"},
		{"pseudo-version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261203071100-0123456789ab+dirty"}, Settings: vcs(rev, "true")}, "v0.0.0-20261203071100-0123456789ab+dirty"},
		{"nothing recorded", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"no build info", "dev", nil, "dev"},
	} {
		if got := buildVersion(tc.set, tc.info, tc.info != nil); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVersionFlag: --version prints what the binary's build information says.
func TestVersionFlag(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	want := buildVersion(version, info, ok)
	code, out := runCLI(t, "--version")
	if code != 0 || !strings.Contains(out, "zedr-run version "+want+"\n") {
		t.Errorf("zedr-run --version: exit %d, %q; want version %q", code, out, want)
	}
}
