package main

import (
	"slices"
	"sort"
	"time"

	"zedr-run/internal/loadgen"
)

// timing is one restart, as offsets since the load started: when it was
// triggered, when the new generation first answered, when the old one was gone.
type timing struct{ Trigger, Serve, Gone time.Duration }

// window is a span of a load, [From, To].
type window struct{ From, To time.Duration }

// restartWindows returns the spans "around restarts": from each trigger until
// both the new generation serves and the old one is gone, plus margin, with
// overlapping spans merged, in order.
func restartWindows(ts []timing, margin time.Duration) []window {
	ws := make([]window, 0, len(ts))
	for _, t := range ts {
		ws = append(ws, window{t.Trigger, max(t.Serve, t.Gone, t.Trigger) + margin})
	}
	slices.SortFunc(ws, func(a, b window) int { return int(a.From - b.From) })
	var merged []window
	for _, w := range ws {
		if n := len(merged); n > 0 && w.From <= merged[n-1].To {
			merged[n-1].To = max(merged[n-1].To, w.To)
			continue
		}
		merged = append(merged, w)
	}
	return merged
}

// split divides samples into those whose request overlaps a window (from its
// start to its end) and the others. ws must be sorted and disjoint.
func split(samples []loadgen.Sample, ws []window) (steady, around []loadgen.Sample) {
	for _, s := range samples {
		end := s.At + s.Latency
		// the last window starting at or before the request's end
		i := sort.Search(len(ws), func(i int) bool { return ws[i].From > end }) - 1
		if i >= 0 && ws[i].To >= s.At {
			around = append(around, s)
		} else {
			steady = append(steady, s)
		}
	}
	return steady, around
}

// latStats are the latencies of successful requests.
type latStats struct {
	N             int
	P50, P99, Max time.Duration
}

// latencies returns the nearest-rank percentiles of the successful samples.
func latencies(samples []loadgen.Sample) latStats {
	var ds []time.Duration
	for _, s := range samples {
		if s.Kind == "" {
			ds = append(ds, s.Latency)
		}
	}
	if len(ds) == 0 {
		return latStats{}
	}
	slices.Sort(ds)
	return latStats{N: len(ds), P50: nearestRank(ds, 0.50), P99: nearestRank(ds, 0.99), Max: ds[len(ds)-1]}
}

// nearestRank returns the q-quantile of sorted (not empty) by nearest
// rank: the ceil(q*n)-th smallest.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1 // ceil(q*n) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// spread is the median and the maximum of some durations.
type spread struct{ P50, Max time.Duration }

func spreadOf(ds []time.Duration) spread {
	if len(ds) == 0 {
		return spread{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return spread{P50: nearestRank(ds, 0.5), Max: ds[len(ds)-1]}
}

// runStats summarizes one contender at one start-up time.
type runStats struct {
	Contender string
	Delay     time.Duration // the server's start-up time
	Restarts  int
	Requests  int
	OK        int
	Failures  map[string]int
	Steady    latStats
	Around    latStats
	ToServe   spread // trigger -> the new generation answers
	ToGone    spread // trigger -> the old generation is gone
	Elapsed   time.Duration
	Skipped   string // why the contender did not run, if it did not

	KeepAlive  bool // keep-alive clients that do not retry, not a new connection per request
	Plain      bool // the server stopped with plain http.Server.Shutdown, not drainHTTP
	ClosedIdle int  // keep-alive: failed requests sent on a connection the server had closed
}

func summarize(name string, delay time.Duration, r loadgen.Result, ts []timing, margin time.Duration) runStats {
	steady, around := split(r.Samples, restartWindows(ts, margin))
	st := runStats{
		Contender: name, Delay: delay, Restarts: len(ts),
		Requests: r.Requests, OK: r.OK, Failures: r.Failures,
		Steady: latencies(steady), Around: latencies(around), Elapsed: r.Elapsed,
	}
	var serve, gone []time.Duration
	for _, t := range ts {
		serve = append(serve, t.Serve-t.Trigger)
		gone = append(gone, t.Gone-t.Trigger)
	}
	st.ToServe, st.ToGone = spreadOf(serve), spreadOf(gone)
	return st
}

func (s runStats) failed() int {
	n := 0
	for _, v := range s.Failures {
		n += v
	}
	return n
}

// ratios is the median, minimum and maximum of some ratios.
type ratios struct{ Median, Min, Max float64 }

// ratioSpread returns the median (the mean of the middle two for an even
// count), minimum and maximum of rs.
func ratioSpread(rs []float64) ratios {
	if len(rs) == 0 {
		return ratios{}
	}
	rs = slices.Clone(rs)
	slices.Sort(rs)
	n := len(rs)
	return ratios{Median: (rs[(n-1)/2] + rs[n/2]) / 2, Min: rs[0], Max: rs[n-1]}
}
