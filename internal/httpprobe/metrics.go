package httpprobe

import (
	"runtime"

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

// zedr-run's own metric families: name (namespace prefixed) and HELP.
const (
	mUp          = namespace + "_up"
	mServing     = namespace + "_serving"
	mStopping    = namespace + "_stopping"
	mRestarts    = namespace + "_restarts_total"
	mRollbacks   = namespace + "_rollbacks_total"
	mCrashes     = namespace + "_crashes_total"
	mCheckFails  = namespace + "_check_failures_total"
	mLimitHits   = namespace + "_start_limit_hits_total"
	mLogDropped  = namespace + "_log_lines_dropped_total"
	mCurrentGen  = namespace + "_current_generation"
	mGenerations = namespace + "_generations"
	mWorkers     = namespace + "_workers"
	mBuildInfo   = namespace + "_build_info"
	mReady       = namespace + "_time_to_ready_seconds"

	helpUp          = "1 when the supervisor answered this scrape's status request in time, else 0 (and no other zedr_run_ metric but build_info)."
	helpServing     = "1 while a ready generation serves and zedr-run is not stopping (what /readyz and `zedr-run status` report), else 0."
	helpStopping    = "1 from the moment zedr-run began to stop (including --stop-delay), else 0."
	helpRestarts    = "Restarts whose new generation took over."
	helpRollbacks   = "New generations given up for not becoming ready (the old one kept serving)."
	helpCrashes     = "Serving generations (or workers) that died on their own."
	helpCheckFails  = "--check commands that failed or did not start (each a restart refused)."
	helpLimitHits   = "Times the start limit was reached (zedr-run then stops and exits)."
	helpLogDropped  = "zedr-run's own log lines dropped because its stderr was not read fast enough."
	helpCurrentGen  = "ZEDR_GENERATION of the generation serving, 0 when none serves."
	helpGenerations = "Generations with a process left, by state."
	helpWorkers     = "Worker processes of the generations with a process left, by state."
	helpBuildInfo   = "zedr-run's version (from -ldflags or the build information) and Go version; always 1."
	helpReady       = "How long each generation took from its start to being ready (since zedr-run's process started; not carried across zedr-run reexec)."
)

// writeStatus writes zedr-run's metrics from one status, or, when err says
// the supervisor did not answer, only build_info and up 0.
func writeStatus(e *expo, version string, st control.Status, err error) {
	e.family(mBuildInfo, typeGauge, helpBuildInfo)
	e.sample(mBuildInfo, 1, "version", version, "goversion", runtime.Version())
	if err != nil {
		e.one(mUp, typeGauge, helpUp, 0)
		return
	}
	e.one(mUp, typeGauge, helpUp, 1)
	e.one(mServing, typeGauge, helpServing, bool01(st.Serving()))
	e.one(mStopping, typeGauge, helpStopping, bool01(st.Stopping))
	e.one(mRestarts, typeCounter, helpRestarts, float64(st.Restarts))
	e.one(mRollbacks, typeCounter, helpRollbacks, float64(st.Rollbacks))
	e.one(mCrashes, typeCounter, helpCrashes, float64(st.Crashes))
	e.one(mCheckFails, typeCounter, helpCheckFails, float64(st.CheckFailures))
	e.one(mLimitHits, typeCounter, helpLimitHits, bool01(st.StartLimitHit != ""))
	e.one(mLogDropped, typeCounter, helpLogDropped, float64(st.LogLinesDropped))
	current := 0
	for _, g := range st.Generations {
		if g.Current {
			current = g.Gen
		}
	}
	e.one(mCurrentGen, typeGauge, helpCurrentGen, float64(current))
	gens, workers := byState(st)
	e.family(mGenerations, typeGauge, helpGenerations)
	for _, s := range States {
		e.sample(mGenerations, float64(gens[s]), "state", s)
	}
	e.family(mWorkers, typeGauge, helpWorkers)
	for _, s := range States {
		e.sample(mWorkers, float64(workers[s]), "state", s)
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
