package main

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

func TestColumns(t *testing.T) {
	samples := []loadgen.Sample{
		{At: 0, Latency: 1 * ms}, {At: 5 * ms, Latency: 3 * ms}, {At: 9 * ms, Latency: 2 * ms},
		{At: 10 * ms, Latency: 9 * ms, Kind: loadgen.Refused},
		{At: 39 * ms, Latency: 4 * ms}, {At: 50 * ms, Latency: 1 * ms}, // past the end: last column
	}
	cols := columns(samples, 40*ms, 4)
	want := []column{{N: 3, P50: 2 * ms, Max: 3 * ms}, {N: 1, Failed: 1}, {}, {N: 2, P50: 1 * ms, Max: 4 * ms}}
	for i := range want {
		if cols[i] != want[i] {
			t.Errorf("column %d: %+v, want %+v", i, cols[i], want[i])
		}
	}
}

func TestYOf(t *testing.T) {
	if y := yOf(yMin); y != plotH {
		t.Errorf("yOf(min) = %v", y)
	}
	if y := yOf(yMax); y != 0 {
		t.Errorf("yOf(max) = %v", y)
	}
	if a, b := yOf(time.Millisecond), yOf(10*time.Millisecond); a <= b {
		t.Errorf("longer latency is not higher: %v %v", a, b)
	}
	if y := yOf(time.Hour); y != 0 {
		t.Errorf("clamped: %v", y)
	}
}

func TestPlotSVG(t *testing.T) {
	p := panel{Title: "naive <kill> & start", Duration: 2 * time.Second,
		Samples:  []loadgen.Sample{{At: 0, Latency: ms}, {At: time.Second, Latency: 2 * ms, Kind: loadgen.Refused}, {At: 1500 * ms, Latency: 30 * ms}},
		Restarts: []timing{{Trigger: 900 * ms, Serve: 1100 * ms, Gone: 1000 * ms}}}
	svg := plotSVG("start-up 300ms", []panel{p, p})
	// well-formed XML
	d := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			break
		}
	}
	for _, want := range []string{"naive &lt;kill&gt; &amp; start", "<title>1 failed</title>", "polyline", `fill="#ffb347"`} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if n := strings.Count(string(svg), "<title>1 failed</title>"); n != 2 {
		t.Errorf("%d failure marks, want 2 (one per panel)", n)
	}
}

func TestTickStep(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{time.Second: time.Second / 10, 20 * time.Second: 2 * time.Second, 100 * time.Second: 10 * time.Second} {
		if got := tickStep(d); got != want {
			t.Errorf("tickStep(%v) = %v, want %v", d, got, want)
		}
	}
}
