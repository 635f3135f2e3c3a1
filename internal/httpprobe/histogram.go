package httpprobe

import (
	"math"
	"sync/atomic"
)

// histogram is a Prometheus histogram of fixed upper bounds whose Observe
// never blocks: atomic adds only, as the Prometheus Go client's. It keeps
// a count per bucket (not cumulative) plus one past the last bound, so a
// scrape's +Inf bucket and _count come from the same counts and always
// agree.
type histogram struct {
	bounds []float64       // ascending upper bounds, +Inf not included
	counts []atomic.Uint64 // len(bounds)+1: observations in (bounds[i-1], bounds[i]], the last above every bound
	sum    atomic.Uint64   // math.Float64bits of the sum of observations
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// observe records v.
func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// write writes the histogram as family name: cumulative _bucket samples
// with le, the last le="+Inf", then _sum and _count.
func (h *histogram) write(e *expo, name, help string) {
	e.family(name, typeHistogram, help)
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := math.Inf(+1)
		if i < len(h.bounds) {
			le = h.bounds[i]
		}
		e.sample(name+"_bucket", float64(cum), "le", formatFloat(le))
	}
	e.sample(name+"_sum", math.Float64frombits(h.sum.Load()))
	e.sample(name+"_count", float64(cum))
}
