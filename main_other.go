//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

// zedr-run supervises with Linux's own mechanisms (LISTEN_FDS, the child
// subreaper, the parent-death signal, pidfds, seccomp, cgroups); elsewhere
// it only says so.
func main() {
	fmt.Fprintf(os.Stderr, "zedr-run runs on Linux only; this is %s/%s\n", runtime.GOOS, runtime.GOARCH)
	os.Exit(1)
}
