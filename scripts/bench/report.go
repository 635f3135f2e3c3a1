package main

import (
	"fmt"
	"strings"
	"time"

	"zedr-run/internal/loadgen"
)

// costStats is zedr-run's own cost.
type costStats struct {
	ServeFor      time.Duration // how long the load ran for the serving figures
	ServeCPU      time.Duration // zedr-run's CPU time (user+system) meanwhile
	ServeRSS      int64         // zedr-run's VmRSS afterwards, bytes
	ServeRequests int
	Restarts      int           // restarts in a row, without load
	RestartsFor   time.Duration // how long they took
	RestartsCPU   time.Duration // zedr-run's CPU time for them
	RSSBefore     int64         // before the restarts, bytes
	RSSAfter      int64         // after them
	DirectRPS     float64       // requests/s, server run directly, all rounds
	WrappedRPS    float64       // requests/s, the same server under zedr-run, all rounds
	Ratios        []float64     // under zedr-run / direct, one per interleaved pair of rounds
	PairRound     time.Duration // each round of a pair
}

// machine describes where a run happened.
type machine struct {
	CPUs           int
	CPUModel       string
	Kernel         string
	LoadBefore     string // /proc/loadavg at start and at the end
	LoadAfter      string
	Command        string
	Concurrency    int
	Date           string
	Elapsed        time.Duration
	ZedrRunVersion string
}

// fmtDur prints a latency in milliseconds with about two significant digits.
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "0"
	case ms < 1:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 10000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

func fmtLat(l latStats) string {
	if l.N == 0 {
		return "–"
	}
	return fmtDur(l.P50) + " / " + fmtDur(l.P99) + " / " + fmtDur(l.Max)
}

func fmtSpread(s spread) string { return fmtDur(s.P50) + " / " + fmtDur(s.Max) }

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// loadWords and stopWords fill the table's "load" and "server stop" columns.
func loadWords(keepAlive bool) string {
	if keepAlive {
		return "keep-alive, no retry"
	}
	return "new conn."
}

func stopWords(plain bool) string {
	if plain {
		return "plain Shutdown"
	}
	return "drainHTTP"
}

// seriesWords describes a series in a plot's title.
func seriesWords(keepAlive, plain bool) string {
	return loadWords(keepAlive) + ", server " + stopWords(plain)
}

// table returns the contenders' Markdown table, one row per run.
func table(runs []runStats) string {
	var b strings.Builder
	b.WriteString("| contender | start-up | load | server stop | restarts | requests | failed | refused | reset | eof | timeout | non-2xx | other | latency steady p50 / p99 / max | latency around restarts p50 / p99 / max | trigger → new serves p50 / max | trigger → old gone p50 / max |\n")
	b.WriteString("|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range runs {
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | skipped: %s |||||||||||||\n", r.Contender, fmtDelay(r.Delay), loadWords(r.KeepAlive), stopWords(r.Plain), r.Skipped)
			continue
		}
		failed := fmt.Sprintf("**%d**", r.failed())
		if r.KeepAlive && r.ClosedIdle > 0 {
			failed += fmt.Sprintf(" (%d closed idle)", r.ClosedIdle)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %s |", r.Contender, fmtDelay(r.Delay), loadWords(r.KeepAlive), stopWords(r.Plain), r.Restarts, r.Requests, failed)
		for _, k := range []string{loadgen.Refused, loadgen.Reset, loadgen.EOF, loadgen.Timeout, loadgen.Status, loadgen.Other} {
			fmt.Fprintf(&b, " %d |", r.Failures[k])
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s |\n", fmtLat(r.Steady), fmtLat(r.Around), fmtSpread(r.ToServe), fmtSpread(r.ToGone))
	}
	return b.String()
}

func fmtDelay(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}

// costTable returns zedr-run's own cost as a Markdown table.
func costTable(c costStats) string {
	var b strings.Builder
	b.WriteString("| zedr-run's own cost | |\n|---|--:|\n")
	if c.ServeFor > 0 {
		fmt.Fprintf(&b, "| CPU while serving %d requests in %s | %s (%.2f%% of one core) |\n",
			c.ServeRequests, c.ServeFor.Round(time.Millisecond), c.ServeCPU, 100*float64(c.ServeCPU)/float64(c.ServeFor))
		fmt.Fprintf(&b, "| RSS while serving | %s |\n", fmtMiB(c.ServeRSS))
	}
	if c.Restarts > 0 {
		fmt.Fprintf(&b, "| %d restarts in a row (no load) took | %s (%s each) |\n", c.Restarts, c.RestartsFor.Round(time.Millisecond), fmtDur(c.RestartsFor/time.Duration(c.Restarts)))
		fmt.Fprintf(&b, "| CPU for those restarts | %s (%s per restart) |\n", c.RestartsCPU, fmtDur(c.RestartsCPU/time.Duration(c.Restarts)))
		fmt.Fprintf(&b, "| RSS before → after them | %s → %s |\n", fmtMiB(c.RSSBefore), fmtMiB(c.RSSAfter))
	}
	if c.DirectRPS > 0 {
		fmt.Fprintf(&b, "| throughput direct / under zedr-run, %d interleaved pairs of %s | %.0f / %.0f req/s |\n", len(c.Ratios), c.PairRound, c.DirectRPS, c.WrappedRPS)
		r := ratioSpread(c.Ratios)
		fmt.Fprintf(&b, "| throughput ratio under zedr-run / direct, median (min–max) | %.2f (%.2f–%.2f) |\n", r.Median, r.Min, r.Max)
	}
	return b.String()
}

// markdown returns the whole results file.
func markdown(m machine, runs []runStats, c costStats, plots []string) string {
	var b strings.Builder
	b.WriteString("# zedr-run benchmark\n\n")
	fmt.Fprintf(&b, "Run %s on %d CPUs (%s), Linux %s, in %s. Load average at start: %s; at the end: %s.\n\n",
		m.Date, m.CPUs, m.CPUModel, m.Kernel, m.Elapsed.Round(time.Second), m.LoadBefore, m.LoadAfter)
	fmt.Fprintf(&b, "Command: `%s`\n\n", m.Command)
	fmt.Fprintf(&b, "Load: %d concurrent clients, 5 s timeout. *new conn.*: a new TCP connection per request (a moment without a listener shows as refused); "+
		"*keep-alive, no retry*: each client keeps one HTTP/1.1 connection and does not retry, so a connection the server closes while the client sends on it is a failure "+
		"(*closed idle*: no byte of an answer came; a client that retries idempotent requests would have retried those). "+
		"Server stop: *drainHTTP* answers every connection already accepted before it shuts down; *plain Shutdown* is net/http's Server.Shutdown alone. "+
		"Latencies are of successful requests; "+
		"\"around restarts\" are the requests that overlap a span from a trigger until the new generation serves and the old one is gone, plus 100 ms.\n\n", m.Concurrency)
	b.WriteString(table(runs))
	b.WriteString("\n")
	b.WriteString(costTable(c))
	for _, p := range plots {
		fmt.Fprintf(&b, "\n![latency over time, %s](%s)\n", p, p)
	}
	return b.String()
}
