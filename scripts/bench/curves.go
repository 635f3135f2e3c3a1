package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Scaling curves: how a restart's time, zedr-run's CPU per restart and its
// RSS grow with the number of --listen sockets, of workers and of restarts
// in a row. Each point is one zedr-run, measured by its "restart phases"
// lines and /proc; each curve gets a plot and a fitted growth.

// curveOpts says which points to measure.
type curveOpts struct {
	Sockets        []int // --listen sockets per point (the breakdown's runs)
	Workers        []int // --workers per point
	Restarts       []int // checkpoints of one long run of restarts
	PerPoint       int   // restarts measured at each socket or worker point
	WorkerRestarts int   // restarts at each worker point (a restart of 256 workers is 256 starts)
}

// point is what was measured at one x.
type point struct {
	X         int
	Restart   time.Duration // median, trigger to old gone
	Own       time.Duration // median of zedr-run's own share (queue+fork+shim+switch)
	CPU       time.Duration // zedr-run's user+system CPU per restart
	RSS       int64         // zedr-run's VmRSS at the end, bytes
	Restarts  int           // restarts measured
	Breakdown *breakdown    // the sockets curve's points carry their breakdown
}

// curve is one dimension.
type curve struct {
	Name, Per string // "sockets", "socket"
	Setup     string // the child and options used
	Points    []point
}

// measureCurves measures every curve; the sockets curve's points carry the
// restart breakdown.
func (e *env) measureCurves(o curveOpts) ([]curve, error) {
	sockets := curve{Name: "--listen sockets", Per: "socket", Setup: "the test server, `--ready notify`, one worker"}
	for _, k := range o.Sockets {
		fmt.Fprintf(os.Stderr, "bench: curves: %d sockets, %d restarts\n", k, o.PerPoint)
		args := append(listenArgs(k), "--ready", "notify", "--", e.server, "-notify")
		p, err := e.measurePoint(k, o.PerPoint, args)
		if err != nil {
			return nil, fmt.Errorf("%d sockets: %w", k, err)
		}
		sockets.Points = append(sockets.Points, p)
	}
	workers := curve{Name: "workers", Per: "worker", Setup: "`sleep` as the child, `--ready delay:1ms`, `--rollout all`, one socket; with several workers the phases overlap, and the own share (first fork to the first old worker told to stop) includes the other workers' start-up"}
	for _, w := range o.Workers {
		fmt.Fprintf(os.Stderr, "bench: curves: %d workers, %d restarts\n", w, o.WorkerRestarts)
		args := []string{"--listen", "tcp:127.0.0.1:0", "--workers", strconv.Itoa(w), "--rollout", "all", "--ready", "delay:1ms", "--", "sleep", "1000000"}
		p, err := e.measurePoint(w, o.WorkerRestarts, args)
		if err != nil {
			return nil, fmt.Errorf("%d workers: %w", w, err)
		}
		p.Breakdown = nil // the breakdown is of one worker, by sockets
		workers.Points = append(workers.Points, p)
	}
	restarts := curve{Name: "restarts in a row", Per: "restart", Setup: "`sleep` as the child, `--ready delay:1ms`, one socket; each point covers the restarts since the previous one, RSS at the point"}
	if len(o.Restarts) > 0 {
		fmt.Fprintf(os.Stderr, "bench: curves: %d restarts in a row\n", o.Restarts[len(o.Restarts)-1])
		ps, err := e.measureRestarts(o.Restarts, []string{"--listen", "tcp:127.0.0.1:0", "--ready", "delay:1ms", "--", "sleep", "1000000"})
		if err != nil {
			return nil, fmt.Errorf("restarts in a row: %w", err)
		}
		restarts.Points = ps
	}
	var cs []curve
	for _, c := range []curve{sockets, workers, restarts} {
		if len(c.Points) > 0 {
			cs = append(cs, c)
		}
	}
	return cs, nil
}

// warmup restarts are not measured: the first ones grow the heap and
// fault in the code paths.
const warmup = 5

// measurePoint starts zedr-run with args, restarts it warmup+n times in a
// row and measures the last n.
func (e *env) measurePoint(x, n int, args []string) (point, error) {
	z, err := e.startTraced(args...)
	if err != nil {
		return point{}, err
	}
	defer z.stop()
	gen := 1
	for range warmup {
		gen++
		if _, err := z.restart(gen); err != nil {
			return point{}, err
		}
	}
	ps, cpu, err := z.restarts(gen, n)
	if err != nil {
		return point{}, err
	}
	r, err := rss(z.cmd.Process.Pid)
	if err != nil {
		return point{}, err
	}
	return pointOf(x, ps, cpu, r), nil
}

// restarts restarts n times after generation gen and returns the phases
// and zedr-run's CPU time for them.
func (z *traced) restarts(gen, n int) ([]phaseLine, time.Duration, error) {
	pid := z.cmd.Process.Pid
	cpu0, err := cpuTime(pid)
	if err != nil {
		return nil, 0, err
	}
	ps := make([]phaseLine, 0, n)
	for i := 1; i <= n; i++ {
		p, err := z.restart(gen + i)
		if err != nil {
			return nil, 0, err
		}
		ps = append(ps, p)
	}
	cpu1, err := cpuTime(pid)
	return ps, cpu1 - cpu0, err
}

func pointOf(x int, ps []phaseLine, cpu time.Duration, rss int64) point {
	b := summarizePhases(x, ps)
	return point{X: x, Restart: b.P50["total"], Own: b.P50["own"], CPU: cpu / time.Duration(max(len(ps), 1)), RSS: rss, Restarts: len(ps), Breakdown: &b}
}

// measureRestarts restarts one zedr-run up to the last checkpoint; each
// point covers the restarts since the previous checkpoint.
func (e *env) measureRestarts(checkpoints []int, args []string) ([]point, error) {
	z, err := e.startTraced(args...)
	if err != nil {
		return nil, err
	}
	defer z.stop()
	var pts []point
	gen, done := 1, 0
	for _, c := range checkpoints {
		ps, cpu, err := z.restarts(gen, c-done)
		if err != nil {
			return nil, err
		}
		gen, done = gen+c-done, c
		r, err := rss(z.cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		p := pointOf(c, ps, cpu, r)
		p.Breakdown = nil
		pts = append(pts, p)
	}
	return pts, nil
}

// metric is one measured quantity of a point, as plotted and fitted.
type metric struct {
	Name, Unit string
	Get        func(point) float64
}

var metrics = []metric{
	{"restart time (median, trigger to old gone)", "ms", func(p point) float64 { return msOf(p.Restart) }},
	{"zedr-run's own share (median)", "ms", func(p point) float64 { return msOf(p.Own) }},
	{"zedr-run's CPU per restart", "ms", func(p point) float64 { return msOf(p.CPU) }},
	{"zedr-run's RSS", "MiB", func(p point) float64 { return float64(p.RSS) / (1 << 20) }},
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fits returns the fitted growth of each metric of c.
func (c curve) fits() []fit {
	xs := make([]float64, len(c.Points))
	for i, p := range c.Points {
		xs[i] = float64(p.X)
	}
	var fs []fit
	for _, m := range metrics {
		ys := make([]float64, len(c.Points))
		for i, p := range c.Points {
			ys[i] = m.Get(p)
		}
		fs = append(fs, fitGrowth(xs, ys))
	}
	return fs
}

// curveFile is the plot's file name for c.
func curveFile(c curve) string {
	name := strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r
		}
		return '-'
	}, c.Name), "-")
	return "curve-" + strings.Split(name, "-")[0] + ".svg"
}

// writeCurves writes one plot per curve into out and returns the Markdown
// section: a table per curve with the fitted growth of each metric.
func writeCurves(out string, cs []curve) (string, error) {
	var b strings.Builder
	for _, c := range cs {
		file := curveFile(c)
		if err := os.WriteFile(filepath.Join(out, file), curveSVG(c), 0o644); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\n#### By number of %s\n\n%s.\n\n", c.Name, c.Setup)
		b.WriteString("| " + c.Per + "s | restarts measured |")
		for _, m := range metrics {
			fmt.Fprintf(&b, " %s |", m.Name)
		}
		b.WriteString("\n|--:|--:|--:|--:|--:|--:|\n")
		for _, p := range c.Points {
			fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s |\n", p.X, p.Restarts, fmtDur(p.Restart), fmtDur(p.Own), fmtDur(p.CPU), fmtMiB(p.RSS))
		}
		b.WriteString("| **fitted growth** | |")
		for i, f := range c.fits() {
			fmt.Fprintf(&b, " %s |", f.String(metrics[i].Unit, c.Per))
		}
		fmt.Fprintf(&b, "\n\n![%s](%s)\n", c.Name, file)
	}
	return b.String(), nil
}

// curveFlags registers the curves' flags; the result is valid after flag.Parse.
func curveFlags() func() (curveOpts, error) {
	sockets := flag.String("curve-sockets", "1,10,100,1000", "numbers of --listen sockets for the breakdown and the sockets curve, `N,...` (empty: skip)")
	workers := flag.String("curve-workers", "1,4,16,64,256", "numbers of workers for the workers curve, `N,...` (empty: skip)")
	restarts := flag.String("curve-restarts", "100,1000,3000", "checkpoints of the restarts-in-a-row curve, `N,...` (empty: skip; 100,1000,3000,10000 for the full curve, about 3 more minutes)")
	perPoint := flag.Int("curve-per-point", 50, "restarts measured at each sockets point")
	workerRestarts := flag.Int("curve-worker-restarts", 5, "restarts measured at each workers point")
	return func() (curveOpts, error) {
		o := curveOpts{PerPoint: *perPoint, WorkerRestarts: *workerRestarts}
		var err error
		for _, f := range []struct {
			name string
			s    string
			to   *[]int
		}{{"-curve-sockets", *sockets, &o.Sockets}, {"-curve-workers", *workers, &o.Workers}, {"-curve-restarts", *restarts, &o.Restarts}} {
			if *f.to, err = parseInts(f.s); err != nil {
				return o, fmt.Errorf("bad %s %q: %w", f.name, f.s, err)
			}
		}
		if o.PerPoint < 1 || o.WorkerRestarts < 1 {
			return o, fmt.Errorf("-curve-per-point and -curve-worker-restarts must be at least 1")
		}
		return o, nil
	}
}

// parseInts parses "1,10,100": positive and increasing.
func parseInts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(ns) > 0 && n <= ns[len(ns)-1]) {
			return nil, fmt.Errorf("want increasing positive numbers such as 1,10,100")
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// curvesSection measures the breakdown and the curves and returns their
// Markdown section for results.md, writing the plots into out.
func (e *env) curvesSection(out string, o curveOpts) (string, error) {
	cs, err := e.measureCurves(o)
	if err != nil || len(cs) == 0 {
		return "", err
	}
	var b strings.Builder
	b.WriteString("\n## A restart's cost, and how it scales\n\n")
	var bs []breakdown
	for _, c := range cs {
		for _, p := range c.Points {
			if p.Breakdown != nil {
				bs = append(bs, *p.Breakdown)
			}
		}
	}
	if len(bs) > 0 {
		b.WriteString(breakdownText + "\n")
		b.WriteString(breakdownTable(bs))
	}
	b.WriteString("\n### Scaling curves\n\nzedr-run's CPU is its own user+system time from /proc/PID/stat (the shim's and the children's are not in it; the unit is 10 ms, so it is measured over many restarts); RSS is its VmRSS after the point's restarts. " +
		"The fitted growth is a least-squares fit of y = a + b·x and of y = a + b·ln x; \"constant\" when neither changes y by more than 10% of its mean over the range.\n")
	md, err := writeCurves(out, cs)
	if err != nil {
		return "", err
	}
	b.WriteString(md)
	return b.String(), nil
}
