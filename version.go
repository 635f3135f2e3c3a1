//go:build linux

package main

import (
	"runtime/debug"
	"strings"
)

// noVersion is main.version when no -ldflags "-X main.version=..." set it.
const noVersion = "dev"

// version is set at build time with -ldflags "-X main.version=..."; without
// it, zedr-run's version is what the Go toolchain recorded in the binary
// (see buildVersion).
var version = noVersion

// zedrVersion is zedr-run's version for --version and status.
func zedrVersion() string {
	info, ok := debug.ReadBuildInfo()
	return buildVersion(version, info, ok)
}

// buildVersion is set if -ldflags set it; otherwise the module version the
// Go toolchain recorded (v1.2.3 from `go install zedr-run@v1.2.3`, or a
// pseudo-version), with the VCS revision of a build from a checkout when
// the version does not already name it: "dev-0123456789ab", and "-dirty"
// when the checkout had changes. "dev" when the binary records neither.
func buildVersion(set string, info *debug.BuildInfo, ok bool) string {
	if set != noVersion || !ok || info == nil {
		return set
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = noVersion
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" || strings.Contains(v, rev) {
		return v
	}
	v += "-" + rev
	if dirty {
		v += "-dirty"
	}
	return v
}
