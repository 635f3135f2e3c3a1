// Command bench measures zero-downtime restarts of zedr-run side by side
// with the tools users would pick instead, under the same load, in one run:
//
//	go run ./scripts/bench -out results/
//
// For each contender (see contenders.go) and each server start-up time it
// runs the test server (testdata/server) under bounded load from
// internal/loadgen, restarts it again and again, and reports requests,
// failures by kind, latency steady and around restarts, and time-to-switch.
// That is -plan, with a new connection per request and a server that drains
// (drainHTTP). More series follow: -keepalive-plan, every contender under
// keep-alive clients that do not retry (a connection closed under a client
// is a failure), and -plain-plan, the contenders marked plainToo with a
// server that stops with plain http.Server.Shutdown, under both loads, to
// show what the server's own drain is worth under each tool.
// Then it measures zero-downtime's own cost: zedr-run's CPU and RSS while
// serving and across many restarts, and throughput direct vs under zedr-run
// in interleaved pairs. Last, where a restart's time goes and how it scales
// (breakdown.go, curves.go): the phases of restarts by number of --listen
// sockets, and curves of restart time, CPU per restart and RSS against
// sockets, workers and restarts in a row (-curve-* flags), with their fitted
// growth. It writes results.md, one latency-*.svg per series and start-up
// time and one curve-*.svg per curve into -out.
//
// Missing tools are installed from Debian when run as root (apt-get);
// otherwise their contender is skipped. Not a test: figures depend on the
// machine and on whatever else runs on it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"zedr-run/internal/loadgen"
)

// env is what every run shares.
type env struct {
	zedrRun, server string    // built binaries
	tableflipServer string    // the server built with -tags tableflip
	tmp             string    // a directory for the contenders' files
	log             io.Writer // the contenders' output
	concurrency     int
	gap             time.Duration // steady time between restarts

	// The series being run (see series).
	keepAlive bool
	plain     bool
}

// series is one pass of the contenders over a plan: how clients connect and
// how the server stops.
type series struct {
	plans     []plan
	keepAlive bool // keep-alive clients that do not retry, instead of a new connection per request
	plain     bool // the server stops with plain http.Server.Shutdown, not drainHTTP; only contenders marked plainToo
}

// suffix names the series' plots.
func (s series) suffix() string {
	suffix := ""
	if s.keepAlive {
		suffix += "-keepalive"
	}
	if s.plain {
		suffix += "-plain"
	}
	return suffix
}

// plan is a start-up time and how many restarts to do with it.
type plan struct {
	delay    time.Duration
	restarts int
}

func parsePlan(s string) ([]plan, error) {
	var ps []plan
	if s == "" || s == "none" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		d, n, ok := strings.Cut(strings.TrimSpace(f), ":")
		delay, err1 := time.ParseDuration(d)
		if d == "0" {
			delay, err1 = 0, nil
		}
		restarts, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || delay < 0 || restarts < 1 {
			return nil, fmt.Errorf("bad -plan entry %q: want STARTUP:RESTARTS such as 300ms:50", f)
		}
		ps = append(ps, plan{delay, restarts})
	}
	return ps, nil
}

func main() {
	out := flag.String("out", "results", "write results.md and the plots into `DIR`")
	planFlag := flag.String("plan", "0:30,300ms:20,2s:6", "start-up times of the server and restarts for each, `STARTUP:N,...`")
	only := flag.String("only", "", "run only the contenders whose name contains this")
	costRestarts := flag.Int("cost-restarts", 1000, "restarts in a row to measure zedr-run's cost (0: skip the cost)")
	keepPlan := flag.String("keepalive-plan", "0:20", "the same with keep-alive clients that do not retry, `STARTUP:N,...` (none: skip)")
	plainPlan := flag.String("plain-plan", "0:20", "the same and the keep-alive load with a server stopping with plain http.Server.Shutdown, not drainHTTP, `STARTUP:N,...` (none: skip)")
	tput := throughput{}
	flag.IntVar(&tput.pairs, "throughput-pairs", 5, "direct/zedr-run throughput rounds, interleaved")
	flag.DurationVar(&tput.round, "throughput-for", 3*time.Second, "each throughput round")
	e := &env{}
	flag.IntVar(&e.concurrency, "c", 4, "concurrent clients")
	flag.DurationVar(&e.gap, "gap", 200*time.Millisecond, "steady time between restarts")
	curves := curveFlags()
	flag.Parse()
	copts, err := curves()
	if err != nil {
		fail(err)
	}
	var ss []series
	for _, f := range []struct {
		flag        string
		keep, plain bool
	}{{*planFlag, false, false}, {*keepPlan, true, false}, {*plainPlan, false, true}, {*plainPlan, true, true}} {
		plans, err := parsePlan(f.flag)
		if err != nil {
			fail(err)
		}
		if len(plans) > 0 {
			ss = append(ss, series{plans, f.keep, f.plain})
		}
	}
	if err := run(e, *out, ss, *only, *costRestarts, tput, copts); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func run(e *env, out string, ss []series, only string, costRestarts int, tput throughput, copts curveOpts) error {
	t0 := time.Now()
	m := machineInfo()
	m.Command = "go run ./scripts/bench " + strings.Join(os.Args[1:], " ")
	m.Concurrency = e.concurrency
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	bin, err := os.MkdirTemp("", "zedr-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	e.tmp = bin
	e.zedrRun, e.server = filepath.Join(bin, "zedr-run"), filepath.Join(bin, "server")
	e.tableflipServer = filepath.Join(bin, "server-tableflip")
	for _, b := range [][]string{{"-o", e.zedrRun, "."}, {"-o", e.server, "./testdata/server"}, {"-tags", "tableflip", "-o", e.tableflipServer, "./testdata/server"}} {
		if o, err := exec.Command("go", append([]string{"build"}, b...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s (run from the repository root): %w\n%s", strings.Join(b, " "), err, o)
		}
	}
	logf, err := os.Create(filepath.Join(out, "contenders.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	e.log = logf

	var runs []runStats
	var plots []string
	for _, s := range ss {
		e.keepAlive, e.plain = s.keepAlive, s.plain
		for _, p := range s.plans {
			var panels []panel
			for _, c := range contenders {
				if only != "" && !strings.Contains(c.name, only) || s.plain && !c.plainToo {
					continue
				}
				if why := ensureTool(c); why != "" {
					runs = append(runs, runStats{Contender: c.name, Delay: p.delay, KeepAlive: s.keepAlive, Plain: s.plain, Skipped: why})
					continue
				}
				fmt.Fprintf(os.Stderr, "bench: %s, start-up %v, %d restarts%s\n", c.name, p.delay, p.restarts, s.suffix())
				st, pn, err := e.runOne(c, p)
				if err != nil {
					return fmt.Errorf("%s, start-up %v%s: %w", c.name, p.delay, s.suffix(), err)
				}
				fmt.Fprintf(os.Stderr, "bench:   %d requests, %d failed %v (closed idle %d); switch %v / gone %v\n", st.Requests, st.failed(), st.Failures, st.ClosedIdle, st.ToServe, st.ToGone)
				runs = append(runs, st)
				panels = append(panels, pn)
			}
			if len(panels) == 0 {
				continue
			}
			name := fmt.Sprintf("latency-%s%s.svg", fmtDelay(p.delay), s.suffix())
			title := fmt.Sprintf("latency over time, server start-up %s, %d restarts, %d clients, %s", fmtDelay(p.delay), p.restarts, e.concurrency, seriesWords(s.keepAlive, s.plain))
			if err := os.WriteFile(filepath.Join(out, name), plotSVG(title, panels), 0o644); err != nil {
				return err
			}
			plots = append(plots, name)
		}
	}
	e.keepAlive, e.plain = false, false
	var cost costStats
	if costRestarts > 0 {
		fmt.Fprintf(os.Stderr, "bench: zedr-run's own cost (%d restarts, throughput %d pairs of %v)\n", costRestarts, tput.pairs, tput.round)
		if cost, err = e.measureCost(costRestarts, tput); err != nil {
			return fmt.Errorf("zedr-run's cost: %w", err)
		}
	}
	curvesMD, err := e.curvesSection(out, copts)
	if err != nil {
		return fmt.Errorf("scaling curves: %w", err)
	}
	m.LoadAfter = loadavg()
	m.Elapsed = time.Since(t0)
	md := markdown(m, runs, cost, plots) + curvesMD
	if err := os.WriteFile(filepath.Join(out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Fprintf(os.Stderr, "bench: wrote %s in %v\n", filepath.Join(out, "results.md"), m.Elapsed.Round(time.Second))
	return nil
}

// ensureTool returns why c cannot run, installing its tool first if it can.
func ensureTool(c contender) string {
	if c.tool == "" {
		return ""
	}
	if _, err := exec.LookPath(c.tool); err == nil {
		return ""
	}
	if os.Geteuid() != 0 {
		return fmt.Sprintf("%s not installed (apt-get install %s)", c.tool, c.pkg)
	}
	fmt.Fprintf(os.Stderr, "bench: installing %s for %s\n", c.pkg, c.tool)
	cmd := exec.Command("apt-get", "install", "-y", "-q", "--no-install-recommends", c.pkg)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("apt-get install %s failed: %v", c.pkg, err)
	}
	if _, err := exec.LookPath(c.tool); err != nil {
		return fmt.Sprintf("%s still missing after apt-get install %s", c.tool, c.pkg)
	}
	return ""
}

// window margin after a restart counted as "around" it.
const aroundMargin = 100 * time.Millisecond

func (e *env) runOne(c contender, p plan) (runStats, panel, error) {
	addr, err := freeAddr()
	if err != nil {
		return runStats{}, panel{}, err
	}
	inst, err := c.start(e, addr, p.delay)
	if err != nil {
		return runStats{}, panel{}, err
	}
	defer inst.stop()
	if _, err := waitServing(addr, 0, 30*time.Second); err != nil {
		return runStats{}, panel{}, err
	}
	load, err := loadgen.Start(context.Background(), loadgen.Config{
		Addr: addr, Concurrency: e.concurrency, KeepAlive: e.keepAlive, NoRetry: e.keepAlive, Duration: time.Hour, Trace: true,
	})
	if err != nil {
		return runStats{}, panel{}, err
	}
	defer load.Stop()
	time.Sleep(time.Second) // steady state before the first restart
	type abs struct{ trigger, serve, gone time.Time }
	var got []abs
	for range p.restarts {
		old, err := waitServing(addr, 0, 30*time.Second)
		if err != nil {
			return runStats{}, panel{}, err
		}
		a, err := restartOnce(addr, old, inst.restart)
		if err != nil {
			return runStats{}, panel{}, err
		}
		got = append(got, abs{a[0], a[1], a[2]})
		time.Sleep(e.gap)
	}
	time.Sleep(time.Second)
	r := load.Stop()
	ts := make([]timing, len(got))
	for i, a := range got {
		ts[i] = timing{a.trigger.Sub(r.Start), a.serve.Sub(r.Start), a.gone.Sub(r.Start)}
	}
	st := summarize(c.name, p.delay, r, ts, aroundMargin)
	st.KeepAlive, st.Plain, st.ClosedIdle = e.keepAlive, e.plain, r.ClosedIdle
	return st, panel{Title: c.name, Duration: r.Elapsed, Samples: r.Samples, Restarts: ts}, nil
}

// restartOnce triggers a restart, then polls every 2 ms until another
// process than old answers, and (separately, as a probe may wait in the
// accept queue) until old is gone. It returns the trigger, serve and gone times.
func restartOnce(addr string, old int, restart func() error) ([3]time.Time, error) {
	var t [3]time.Time
	t[0] = time.Now()
	deadline := t[0].Add(60 * time.Second)
	errc := make(chan error, 1)
	go func() { errc <- restart() }()
	gonec := make(chan time.Time, 1)
	go func() {
		for !gone(old) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		gonec <- time.Now()
	}()
	for t[1].IsZero() && time.Now().Before(deadline) {
		if pid, err := identify(addr); err == nil && pid != old {
			t[1] = time.Now()
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	t[2] = <-gonec
	if t[1].IsZero() || !gone(old) {
		return t, fmt.Errorf("restart of pid=%d on %s: no switch after 60s", old, addr)
	}
	if err := <-errc; err != nil {
		return t, fmt.Errorf("restart: %w", err)
	}
	return t, nil
}

var client = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

// identify returns the pid of the server answering on addr.
func identify(addr string) (int, error) {
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := pidRE.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no pid= in %q", body)
	}
	return strconv.Atoi(string(m[1]))
}

// waitServing waits until a server other than pid not answers on addr.
func waitServing(addr string, not int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		pid, err := identify(addr)
		if err == nil && pid != not {
			return pid, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("nothing serving on %s after %v: %v", addr, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone reports whether pid has ended (a zombie has closed its sockets too).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), LoadBefore: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if _, rest, ok := strings.Cut(string(b), "model name"); ok {
			line, _, _ := strings.Cut(rest, "\n")
			m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), ":"))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
