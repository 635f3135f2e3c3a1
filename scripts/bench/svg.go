package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"

	"zedr-run/internal/loadgen"
)

// panel is one plotted load: latency over time, restarts marked.
type panel struct {
	Title    string
	Duration time.Duration
	Samples  []loadgen.Sample
	Restarts []timing
}

// column is what the plot shows of the requests that started in one pixel column.
type column struct {
	N, Failed int
	P50, Max  time.Duration // of the successful ones
}

// columns bins samples by start time into n columns spanning d.
func columns(samples []loadgen.Sample, d time.Duration, n int) []column {
	cols := make([]column, n)
	lat := make([][]time.Duration, n)
	if d <= 0 || n <= 0 {
		return cols
	}
	for _, s := range samples {
		i := min(max(int(int64(s.At)*int64(n)/int64(d)), 0), n-1)
		cols[i].N++
		if s.Kind != "" {
			cols[i].Failed++
			continue
		}
		lat[i] = append(lat[i], s.Latency)
	}
	for i, ds := range lat {
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		cols[i].P50, cols[i].Max = ds[(len(ds)-1)/2], ds[len(ds)-1]
	}
	return cols
}

// Plot geometry, in pixels.
const (
	plotW    = 900 // data area width = number of columns
	plotH    = 150 // data area height per panel
	marginL  = 70
	marginR  = 20
	panelGap = 60 // title and x labels between panels
	marginT  = 40
)

// The latency axis is logarithmic from yMin to yMax.
const (
	yMin = 100 * time.Microsecond
	yMax = 10 * time.Second
)

func yOf(d time.Duration) float64 {
	d = min(max(d, yMin), yMax)
	f := math.Log(float64(d)/float64(yMin)) / math.Log(float64(yMax)/float64(yMin))
	return float64(plotH) * (1 - f)
}

// plotSVG draws one panel per load, stacked, as a self-contained SVG.
func plotSVG(title string, panels []panel) []byte {
	height := marginT + len(panels)*(plotH+panelGap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		marginL+plotW+marginR, height, marginL+plotW+marginR, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="32" fill="#555">blue: median latency per pixel column; grey: max; red: failed requests; orange: restart (trigger to new serving and old gone)</text>`+"\n", marginL)
	for i, p := range panels {
		top := marginT + i*(plotH+panelGap) + 16
		drawPanel(&b, p, top)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func drawPanel(b *strings.Builder, p panel, top int) {
	fmt.Fprintf(b, `<g transform="translate(%d,%d)">`+"\n", marginL, top)
	fmt.Fprintf(b, `<text x="0" y="-5" font-weight="bold">%s</text>`+"\n", html.EscapeString(p.Title))
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", plotW, plotH)
	xOf := func(d time.Duration) float64 {
		if p.Duration <= 0 {
			return 0
		}
		return float64(plotW) * float64(d) / float64(p.Duration)
	}
	for _, t := range p.Restarts {
		x0, x1 := xOf(t.Trigger), xOf(max(t.Serve, t.Gone))
		fmt.Fprintf(b, `<rect x="%.1f" y="0" width="%.1f" height="%d" fill="#ffb347" fill-opacity="0.35"/>`, x0, max(x1-x0, 1), plotH)
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="0" y2="%d" stroke="#e67e00" stroke-width="0.6"/>`+"\n", x0, x0, plotH)
	}
	for d := yMin; d <= yMax; d *= 10 {
		y := yOf(d)
		fmt.Fprintf(b, `<line x1="0" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="-6" y="%.1f" text-anchor="end">%s</text>`+"\n",
			plotW, y, y, y+4, fmtDur(d))
	}
	cols := columns(p.Samples, p.Duration, plotW)
	line := func(get func(column) time.Duration, color string, width float64) {
		var pts []string
		flush := func() {
			if len(pts) > 0 {
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" points="%s"/>`+"\n", color, width, strings.Join(pts, " "))
				pts = nil
			}
		}
		for x, c := range cols {
			if c.N-c.Failed == 0 {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%d,%.1f", x, yOf(get(c))))
		}
		flush()
	}
	line(func(c column) time.Duration { return c.Max }, "#aaa", 1)
	line(func(c column) time.Duration { return c.P50 }, "#1f5fbf", 1.2)
	for x, c := range cols {
		if c.Failed > 0 {
			h := min(4+2*math.Log2(float64(c.Failed)), plotH/3)
			fmt.Fprintf(b, `<rect x="%d" y="0" width="1.5" height="%.1f" fill="#d00"><title>%d failed</title></rect>`, x, h, c.Failed)
		}
	}
	step := tickStep(p.Duration)
	for t := time.Duration(0); t <= p.Duration && step > 0; t += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%gs</text>`, xOf(t), plotH+14, t.Seconds())
	}
	b.WriteString("\n</g>\n")
}

// tickStep picks a round time step giving 5 to 15 ticks over d.
func tickStep(d time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second / 10, time.Second / 5, time.Second / 2, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, time.Minute} {
		if d/s <= 15 {
			return s
		}
	}
	return 2 * time.Minute
}
