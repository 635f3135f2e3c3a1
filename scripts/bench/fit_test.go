package main

import (
	"math"
	"testing"
)

func TestFitGrowth(t *testing.T) {
	xs := []float64{1, 10, 100, 1000}
	for _, c := range []struct {
		name string
		ys   []float64
		want string
	}{
		{"flat with noise", []float64{10, 10.3, 9.8, 10.2}, "constant"},
		{"linear", []float64{2.001, 2.01, 2.1, 3}, "linear"},
		{"log", []float64{1, 2, 3, 4}, "log"},
	} {
		f := fitGrowth(xs, c.ys)
		if f.Model != c.want {
			t.Errorf("%s: %s (%+v), want %s", c.name, f.Model, f, c.want)
		}
	}
	if f := fitGrowth(xs, []float64{2.001, 2.01, 2.1, 3}); math.Abs(f.B-0.001) > 1e-9 || f.R2 < 0.999 {
		t.Errorf("linear fit: slope %g R² %g, want 0.001, 1", f.B, f.R2)
	}
}
