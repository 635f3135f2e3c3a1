package main

import (
	"fmt"
	"math"
)

// fit is the growth of y with x, fitted by least squares.
type fit struct {
	Model string  // "constant", "linear" (y = a + b·x) or "log" (y = a + b·ln x)
	A, B  float64 // intercept and slope of the model (B = 0 for constant)
	R2    float64 // of the model chosen (linear or log); 0 for constant
	Mean  float64
}

// flatWithin is the noise a constant is allowed: a fitted change over the
// whole range of x smaller than this fraction of the mean is no growth.
const flatWithin = 0.10

// fitGrowth fits y = a + b·x and y = a + b·ln x; it says "constant" when
// neither changes y by more than flatWithin of its mean over the range of
// x, and otherwise picks the better fit (higher R²).
func fitGrowth(xs, ys []float64) fit {
	if len(xs) < 2 || len(xs) != len(ys) {
		return fit{Model: "constant", Mean: mean(ys)}
	}
	lx := make([]float64, len(xs))
	for i, x := range xs {
		lx[i] = math.Log(x)
	}
	m := mean(ys)
	a1, b1, r1 := leastSquares(xs, ys)
	a2, b2, r2 := leastSquares(lx, ys)
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	linChange := math.Abs(b1 * (hi - lo))
	logChange := math.Abs(b2 * (math.Log(hi) - math.Log(lo)))
	if lo <= 0 {
		logChange, r2 = math.Inf(1), -1 // no log fit through x ≤ 0
	}
	noise := flatWithin * math.Abs(m)
	switch {
	case linChange <= noise && (logChange <= noise || r2 < 0):
		return fit{Model: "constant", Mean: m}
	case r1 >= r2:
		return fit{Model: "linear", A: a1, B: b1, R2: r1, Mean: m}
	}
	return fit{Model: "log", A: a2, B: b2, R2: r2, Mean: m}
}

// leastSquares fits y = a + b·x and returns a, b and R².
func leastSquares(xs, ys []float64) (a, b, r2 float64) {
	mx, my := mean(xs), mean(ys)
	var sxy, sxx, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 {
		return my, 0, 0
	}
	b = sxy / sxx
	a = my - b*mx
	if syy == 0 {
		return a, b, 1
	}
	return a, b, sxy * sxy / (sxx * syy)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// String says the growth in words, with unit the unit of y and per what
// one unit of x is ("socket", "worker", "restart").
func (f fit) String(unit, per string) string {
	switch f.Model {
	case "constant":
		return fmt.Sprintf("constant (%.3g %s, within ±%.0f%% over the range)", f.Mean, unit, 100*flatWithin)
	case "linear":
		return fmt.Sprintf("linear: %+.3g %s per %s (R² %.2f)", f.B, unit, per, f.R2)
	}
	return fmt.Sprintf("logarithmic: %+.3g %s per doubling of %ss (R² %.2f)", f.B*math.Ln2, unit, per, f.R2)
}
