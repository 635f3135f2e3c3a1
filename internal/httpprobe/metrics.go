package httpprobe

import (
	"context"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"zedr-run/wrapper/control"
)

// namespace prefixes every metric of zedr-run's own.
const namespace = "zedr_run"

// States are the states of a generation or worker that has a process
// left, each reported (0 included) by zedr_run_generations and
// zedr_run_workers.
var States = []string{"starting", "ready", "draining"}

// ReadyBuckets are the time-to-ready histogram's upper bounds, in seconds:
// from a server that is ready at once (10 ms) to the default ready timeout
// (wrapper.DefaultReadyTimeout, 60 s) and past it.
var ReadyBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

var (
	descUp          = desc("up", "1 when the supervisor answered this scrape's status request in time, else 0 (and no other zedr_run_ metric but build_info).")
	descServing     = desc("serving", "1 while a ready generation serves and zedr-run is not stopping (what /readyz and `zedr-run status` report), else 0.")
	descStopping    = desc("stopping", "1 from the moment zedr-run began to stop (including --stop-delay), else 0.")
	descRestarts    = desc("restarts_total", "Restarts whose new generation took over.")
	descRollbacks   = desc("rollbacks_total", "New generations given up for not becoming ready (the old one kept serving).")
	descCrashes     = desc("crashes_total", "Serving generations (or workers) that died on their own.")
	descCheckFails  = desc("check_failures_total", "--check commands that failed or did not start (each a restart refused).")
	descLimitHits   = desc("start_limit_hits_total", "Times the start limit was reached (zedr-run then stops and exits).")
	descLogDropped  = desc("log_lines_dropped_total", "zedr-run's own log lines dropped because its stderr was not read fast enough.")
	descCurrentGen  = desc("current_generation", "ZEDR_GENERATION of the generation serving, 0 when none serves.")
	descGenerations = desc("generations", "Generations with a process left, by state.", "state")
	descWorkers     = desc("workers", "Worker processes of the generations with a process left, by state.", "state")
	descBuildInfo   = desc("build_info", "zedr-run's version (from -ldflags or the build information) and Go version; always 1.", "version", "goversion")
)

// collector turns one status per scrape into zedr-run's metrics.
type collector struct {
	fetch   *fetcher
	version string
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descServing, descStopping, descRestarts, descRollbacks, descCrashes,
		descCheckFails, descLimitHits, descLogDropped, descCurrentGen, descGenerations, descWorkers, descBuildInfo} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descBuildInfo, 1, c.version, runtime.Version())
	st, err := c.fetch.get(context.Background())
	if err != nil {
		gauge(descUp, 0)
		return
	}
	gauge(descUp, 1)
	gauge(descServing, bool01(st.Serving()))
	gauge(descStopping, bool01(st.Stopping))
	counter(descRestarts, float64(st.Restarts))
	counter(descRollbacks, float64(st.Rollbacks))
	counter(descCrashes, float64(st.Crashes))
	counter(descCheckFails, float64(st.CheckFailures))
	counter(descLimitHits, bool01(st.StartLimitHit != ""))
	counter(descLogDropped, float64(st.LogLinesDropped))
	gens, workers := byState(st)
	current := 0
	for _, g := range st.Generations {
		if g.Current {
			current = g.Gen
		}
	}
	gauge(descCurrentGen, float64(current))
	for _, s := range States {
		gauge(descGenerations, float64(gens[s]), s)
		gauge(descWorkers, float64(workers[s]), s)
	}
}

// byState counts the generations and workers that have a process left
// (the status also lists a few exited generations) by state.
func byState(st control.Status) (gens, workers map[string]int) {
	gens, workers = map[string]int{}, map[string]int{}
	for _, g := range st.Generations {
		if g.State == "exited" {
			continue
		}
		gens[g.State]++
		for _, w := range g.Workers {
			if w.State != "exited" {
				workers[w.State]++
			}
		}
	}
	return gens, workers
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
