package main

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

const ms = time.Millisecond

func TestRestartWindows(t *testing.T) {
	ts := []timing{
		{Trigger: 500 * ms, Serve: 520 * ms, Gone: 530 * ms},
		{Trigger: 100 * ms, Serve: 150 * ms, Gone: 120 * ms},
		{Trigger: 535 * ms, Serve: 600 * ms, Gone: 540 * ms}, // overlaps the first with the margin
	}
	got := fmt.Sprint(restartWindows(ts, 10*ms))
	want := fmt.Sprint([]window{{100 * ms, 160 * ms}, {500 * ms, 610 * ms}})
	if got != want {
		t.Errorf("windows %s, want %s", got, want)
	}
}

func TestSplit(t *testing.T) {
	ws := []window{{100 * ms, 200 * ms}, {500 * ms, 600 * ms}}
	samples := []loadgen.Sample{
		{At: 10 * ms, Latency: 5 * ms},    // steady
		{At: 90 * ms, Latency: 10 * ms},   // ends as the window starts: around
		{At: 150 * ms, Latency: 1 * ms},   // inside
		{At: 200 * ms, Latency: 1 * ms},   // starts as it ends: around
		{At: 201 * ms, Latency: 1 * ms},   // steady
		{At: 300 * ms, Latency: 400 * ms}, // spans the second window: around
		{At: 601 * ms, Latency: 1 * ms},   // steady
	}
	steady, around := split(samples, ws)
	if len(steady) != 3 || len(around) != 4 {
		t.Errorf("steady %v, around %v", steady, around)
	}
	if steady, around := split(samples, nil); len(steady) != len(samples) || len(around) != 0 {
		t.Errorf("no windows: steady %d around %d", len(steady), len(around))
	}
}

func TestLatencies(t *testing.T) {
	var samples []loadgen.Sample
	for i := 100; i >= 1; i-- {
		samples = append(samples, loadgen.Sample{Latency: time.Duration(i) * ms})
	}
	samples = append(samples, loadgen.Sample{Latency: time.Hour, Kind: loadgen.Timeout}) // failures do not count
	got := latencies(samples)
	if want := (latStats{N: 100, P50: 50 * ms, P99: 99 * ms, Max: 100 * ms}); got != want {
		t.Errorf("latencies %+v, want %+v", got, want)
	}
	if got := latencies(samples[100:]); got != (latStats{}) {
		t.Errorf("only failures: %+v", got)
	}
	if got := latencies([]loadgen.Sample{{Latency: 7 * ms}}); got != (latStats{1, 7 * ms, 7 * ms, 7 * ms}) {
		t.Errorf("one sample: %+v", got)
	}
}

func TestSummarize(t *testing.T) {
	r := loadgen.Result{
		Requests: 4, OK: 3, Failures: map[string]int{loadgen.Refused: 1},
		Samples: []loadgen.Sample{
			{At: 0, Latency: 1 * ms}, {At: 10 * ms, Latency: 2 * ms},
			{At: 100 * ms, Latency: 30 * ms}, {At: 110 * ms, Latency: 1 * ms, Kind: loadgen.Refused},
		},
	}
	ts := []timing{{Trigger: 100 * ms, Serve: 140 * ms, Gone: 120 * ms}, {Trigger: 300 * ms, Serve: 310 * ms, Gone: 330 * ms}}
	s := summarize("x", 0, r, ts, 5*ms)
	if s.Steady != (latStats{2, 1 * ms, 2 * ms, 2 * ms}) || s.Around != (latStats{1, 30 * ms, 30 * ms, 30 * ms}) {
		t.Errorf("steady %+v around %+v", s.Steady, s.Around)
	}
	if s.ToServe != (spread{10 * ms, 40 * ms}) || s.ToGone != (spread{20 * ms, 30 * ms}) || s.failed() != 1 || s.Restarts != 2 {
		t.Errorf("%+v", s)
	}
}

func TestRatioSpread(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want ratios
	}{
		{nil, ratios{}},
		{[]float64{1.1}, ratios{1.1, 1.1, 1.1}},
		{[]float64{1.2, 0.8, 1.0}, ratios{1.0, 0.8, 1.2}},
		{[]float64{1.3, 0.9, 1.0, 1.1}, ratios{1.05, 0.9, 1.3}},
	} {
		in := slices.Clone(c.in)
		got := ratioSpread(c.in)
		if math.Abs(got.Median-c.want.Median) > 1e-9 || got.Min != c.want.Min || got.Max != c.want.Max {
			t.Errorf("ratioSpread(%v) = %+v, want %+v", c.in, got, c.want)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("ratioSpread changed its argument: %v", c.in)
		}
	}
}

// The phase breakdown's quantiles are nearest ranks, as the latencies' are:
// the p90 of 7 restarts is the 7th smallest (ceil(6.3)), not the 6th.
func TestQuantileIsNearestRank(t *testing.T) {
	ds := []time.Duration{7 * ms, 1 * ms, 6 * ms, 2 * ms, 5 * ms, 3 * ms, 4 * ms}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.9, 7 * ms}, {0.5, 4 * ms}, {0.1, 1 * ms}} {
		if got := quantile(ds, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of none = %v", got)
	}
}
