package main

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// TestCurveSVG: the plot of a curve is well-formed SVG with one point per
// measured x and metric, and a fitted line per metric.
func TestCurveSVG(t *testing.T) {
	c := curve{Name: "workers", Per: "worker", Setup: "`sleep` <child>"}
	for i, x := range []int{1, 4, 16, 64} {
		c.Points = append(c.Points, point{X: x, Restart: time.Duration(x) * time.Millisecond, Own: 5 * time.Millisecond, CPU: time.Duration(i+1) * time.Millisecond, RSS: 16 << 20})
	}
	svg := string(curveSVG(c))
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%s", err, svg)
			}
			break
		}
	}
	if n, want := strings.Count(svg, "<circle"), len(c.Points)*len(metrics); n != want {
		t.Errorf("%d points plotted, want %d", n, want)
	}
	if n := strings.Count(svg, `stroke-dasharray`); n != len(metrics) {
		t.Errorf("%d fitted lines, want %d", n, len(metrics))
	}
	fs := c.fits()
	if fs[0].Model != "linear" || fs[3].Model != "constant" {
		t.Errorf("fits: restart time %s, RSS %s; want linear, constant", fs[0].Model, fs[3].Model)
	}
}

// TestParsePhases reads zedr-run's "restart phases" line; the own share
// is queue+fork+shim+switch, and with the exec counted too.
func TestParsePhases(t *testing.T) {
	line := `time=2026-12-03T09:13:47.789Z level=DEBUG msg="restart phases" gen=17 why="signal SIGUSR2" queue_us=3 fork_us=558 shim_us=8014 exec_us=1200 child_us=4146 switch_us=9 drain_us=1402 total_us=14135`
	p, ok := parsePhases(line)
	if !ok || p.gen != 17 || p.d["shim"] != 8014*time.Microsecond || p.d["total"] != 14135*time.Microsecond {
		t.Fatalf("parsePhases: %v %+v", ok, p)
	}
	if own := p.own(); own != (3+558+8014+9)*time.Microsecond {
		t.Errorf("own share %v", own)
	}
	if _, ok := parsePhases(`msg="generation ready" gen=2`); ok {
		t.Error("another line read as phases")
	}
	b := summarizePhases(1, []phaseLine{p, p, p})
	if w := p.ownWithExec(); w != (3+558+8014+9+1200)*time.Microsecond {
		t.Errorf("own share with the exec %v", w)
	}
	if b.P50["own"] != p.own() || b.P50["own+exec"] != p.ownWithExec() || b.P90["child"] != 4146*time.Microsecond {
		t.Errorf("summary %+v", b)
	}
}
