package httpprobe

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go runtime's metrics that dashboards use, with the names, types and
// meaning the Prometheus Go client's Go collector gave them. The memory
// figures come from runtime/metrics, which does not stop the world.
const (
	helpGoroutines = "Number of goroutines that currently exist."
	helpThreads    = "Number of OS threads created."
	helpGoInfo     = "Information about the Go environment."
	helpHeapAlloc  = "Number of heap bytes allocated and currently in use. Equals to /memory/classes/heap/objects:bytes."
	helpHeapInuse  = "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes."
	helpSys        = "Number of bytes obtained from system. Equals to /memory/classes/total:bytes."
	helpGCDuration = "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles."
)

// runtimeSamples are the runtime/metrics that writeGo reads, in this order.
var runtimeSamples = []string{
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/total:bytes",
}

// writeGo writes go_goroutines, go_threads, go_info, three go_memstats_
// gauges and the summary go_gc_duration_seconds.
func writeGo(e *expo) {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	goroutines, objects, unused, total := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64()
	threads, _ := runtime.ThreadCreateProfile(nil)

	e.one("go_goroutines", typeGauge, helpGoroutines, float64(goroutines))
	e.one("go_threads", typeGauge, helpThreads, float64(threads))
	e.family("go_info", typeGauge, helpGoInfo)
	e.sample("go_info", 1, "version", runtime.Version())
	e.one("go_memstats_heap_alloc_bytes", typeGauge, helpHeapAlloc, float64(objects))
	e.one("go_memstats_heap_inuse_bytes", typeGauge, helpHeapInuse, float64(objects+unused))
	e.one("go_memstats_sys_bytes", typeGauge, helpSys, float64(total))
	writeGCDuration(e)
}

// gcQuantiles are go_gc_duration_seconds' quantiles: the minimum, the
// quartiles and the maximum of the recent pauses, as debug.ReadGCStats
// computes them for a PauseQuantiles of five.
var gcQuantiles = []float64{0, 0.25, 0.5, 0.75, 1}

// writeGCDuration writes go_gc_duration_seconds as the client did: the
// quantiles of the last pauses debug.ReadGCStats keeps (up to 256), the
// total pause time as _sum and the number of collections as _count.
func writeGCDuration(e *expo) {
	var st debug.GCStats
	st.PauseQuantiles = make([]time.Duration, len(gcQuantiles))
	debug.ReadGCStats(&st)
	const name = "go_gc_duration_seconds"
	e.family(name, typeSummary, helpGCDuration)
	for i, q := range gcQuantiles {
		e.sample(name, st.PauseQuantiles[i].Seconds(), "quantile", formatFloat(q))
	}
	e.sample(name+"_sum", st.PauseTotal.Seconds())
	e.sample(name+"_count", float64(st.NumGC))
}
