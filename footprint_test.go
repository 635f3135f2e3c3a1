//go:build linux

package main

import (
	"runtime/debug"
	"testing"

	"zedr-run/wrapper"
)

// TestFootprint: zedr-run sets its GOGC and a memory limit sized from the
// configuration, unless the user set GOGC or GOMEMLIMIT.
func TestFootprint(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	one := wrapper.Config{Workers: 1, FDStoreMax: wrapper.DefaultFDStoreMax}
	many := wrapper.Config{Workers: wrapper.MaxWorkers, FDStoreMax: wrapper.DefaultFDStoreMax}
	if lim := memoryLimit(one); lim < 12<<20 || lim > 14<<20 {
		t.Errorf("memory limit with one worker: %d bytes, want 12 to 14 MiB (above the runtime's own 8 MB)", lim)
	}
	if lim := memoryLimit(many); lim < 64<<20 {
		t.Errorf("memory limit with %d workers: %d bytes, want room for them (64 MiB or more)", many.Workers, lim)
	}

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	setFootprint(one)
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC is %d, want %d", got, gcPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != memoryLimit(one) {
		t.Errorf("memory limit is %d, want %d", got, memoryLimit(one))
	}

	t.Setenv("GOGC", "200")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(1 << 30)
	setFootprint(one)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, GOGC was changed to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("with GOMEMLIMIT set, the memory limit was changed to %d", got)
	}
}
