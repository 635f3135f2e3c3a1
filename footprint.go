//go:build linux

package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"zedr-run/wrapper"
)

// zedr-run's own footprint: a supervisor should sit at a flat floor, however
// many restarts it has done. Its live heap is small (well under 1 MiB with a
// few workers) and each restart allocates a few tens of KiB that are
// garbage at once. With Go's defaults (GOGC=100, no memory limit) the heap
// grows to 4 MiB between collections and the pages stay resident: RSS went
// from 7.7 to 12.5 MiB over 1,000 restarts.

// gcPercent is zedr-run's GOGC: the heap goal is 1.25 times the live heap
// (at least 1 MiB) instead of twice it (at least 4 MiB). A collection of
// such a heap costs well under a millisecond of CPU, every few dozen
// restarts. Alone it brings RSS to a flat 9.8-10.1 MiB from 300 to 3,000
// restarts.
const gcPercent = 25

// The memory limit (debug.SetMemoryLimit, counting the heap, stacks and the
// runtime's own structures, not the binary's pages) makes the scavenger
// return freed pages to the OS promptly, after a burst too (a --rollout all
// of many workers): RSS stays at 8.8-9.5 MiB. It is soft: above it the
// collector runs more often (at most half the CPU), so it is sized from the
// configuration with ample room, never below what zedr-run needs: 256
// workers use about 10 KiB of it each (measured: 2.1 MiB anonymous RSS
// with 1 worker, 4.5 MiB with 256), counted here at 32 KiB, twice (a
// --rollout all restart runs two generations).
//
// The base must stay well above what the runtime itself maps, or the
// collector runs in limit mode at every allocation: with the Prometheus
// client linked, zedr-run's runtime maps about 8 MB (GC metadata 2.9 MB,
// profiling buckets 1.4 MB, stacks 1.2 MB, the heap) after a few hundred
// restarts. With a base of 6 MiB a soak of 1,000 restarts ran 6,680
// collections and zedr-run's CPU per restart climbed from 1.7 ms to 18 ms
// (scripts/bench's restarts curve found it); with 12 MiB, 34 collections,
// 1.5 ms per restart throughout, and 1 MiB more RSS.
const (
	memoryLimitBase      = 12 << 20 // one worker, a few sockets: 2-3 MiB of heap, about 8 MB mapped by the runtime
	memoryLimitPerWorker = 32 << 10 // per worker process, counted twice
	memoryLimitPerFD     = 8 << 10  // per socket and fd store slot
)

// zedr-run never writes a heap profile, so it keeps no allocation
// samples: with the default rate (one per 512 KiB allocated) the runtime's
// profiling buckets grew to about 1.4 MB of zedr-run's own memory over a
// few hundred restarts, each restart allocating from new call stacks (the
// shims and the spare, the same binary, start with it off too).
func init() { runtime.MemProfileRate = 0 }

// memoryLimit is the soft memory limit for cfg.
func memoryLimit(cfg wrapper.Config) int64 {
	return memoryLimitBase + int64(2*cfg.Workers)*memoryLimitPerWorker + int64(len(cfg.Sockets)+cfg.FDStoreMax)*memoryLimitPerFD
}

// setFootprint sets the garbage collector for a small steady heap, unless
// the user set GOGC or GOMEMLIMIT: those are theirs to tune. Only the
// supervisor runs it: the shim and the children are not affected, and the
// environment they inherit is not changed.
func setFootprint(cfg wrapper.Config) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit(cfg))
	}
}
