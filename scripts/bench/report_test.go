package main

import (
	"strings"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 420 * time.Microsecond: "0.42 ms", 4200 * time.Microsecond: "4.2 ms",
		42 * time.Millisecond: "42 ms", 2 * time.Second: "2000 ms", 12340 * time.Millisecond: "12.3 s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTable(t *testing.T) {
	runs := []runStats{
		{Contender: "zedr-run", Delay: 300 * time.Millisecond, Restarts: 50, Requests: 1000, OK: 1000, Failures: map[string]int{},
			Steady:  latStats{900, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond},
			Around:  latStats{100, time.Millisecond, 5 * time.Millisecond, 9 * time.Millisecond},
			ToServe: spread{310 * time.Millisecond, 330 * time.Millisecond}, ToGone: spread{320 * time.Millisecond, 340 * time.Millisecond}},
		{Contender: "naive", Delay: 0, Restarts: 50, Requests: 1000, OK: 990, Failures: map[string]int{loadgen.Refused: 7, loadgen.Reset: 3}},
		{Contender: "Server::Starter", Delay: 0, Skipped: "start_server not installed"},
		{Contender: "tableflip", Delay: 0, Restarts: 20, Requests: 500, OK: 496, KeepAlive: true, ClosedIdle: 3, Failures: map[string]int{loadgen.EOF: 4}},
		{Contender: "zedr-run", Delay: 0, Restarts: 20, Requests: 800, OK: 790, Plain: true, Failures: map[string]int{loadgen.EOF: 10}},
	}
	got := table(runs)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d lines:\n%s", len(lines), got)
	}
	cols := strings.Count(lines[0], "|")
	for i, l := range lines {
		if n := strings.Count(l, "|"); n != cols {
			t.Errorf("line %d has %d bars, header %d: %s", i, n, cols, l)
		}
	}
	for _, want := range []string{
		"| zedr-run | 300ms | new conn. | drainHTTP | 50 | 1000 | **0** | 0 | 0 | 0 | 0 | 0 | 0 | 1.0 ms / 2.0 ms / 3.0 ms | 1.0 ms / 5.0 ms / 9.0 ms | 310 ms / 330 ms | 320 ms / 340 ms |",
		"| naive | 0 | new conn. | drainHTTP | 50 | 1000 | **10** | 7 | 3 | 0 | 0 | 0 | 0 | – | – |",
		"| tableflip | 0 | keep-alive, no retry | drainHTTP | 20 | 500 | **4** (3 closed idle) | 0 | 0 | 4 |",
		"| zedr-run | 0 | new conn. | plain Shutdown | 20 | 800 | **10** | 0 | 0 | 10 |",
		"skipped: start_server not installed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestCostTable(t *testing.T) {
	got := costTable(costStats{
		ServeFor: 10 * time.Second, ServeCPU: 100 * time.Millisecond, ServeRSS: 8 << 20, ServeRequests: 5000,
		Restarts: 1000, RestartsFor: 50 * time.Second, RestartsCPU: 2 * time.Second, RSSBefore: 8 << 20, RSSAfter: 9 << 20,
		DirectRPS: 1000, WrappedRPS: 990, Ratios: []float64{1.02, 0.95, 0.99, 1.10, 0.97}, PairRound: 3 * time.Second,
	})
	for _, want := range []string{"(1.00% of one core)", "| RSS while serving | 8.0 MiB |", "(50 ms each)", "(2.0 ms per restart)", "8.0 MiB → 9.0 MiB",
		"5 interleaved pairs of 3s | 1000 / 990 req/s |", "median (min–max) | 0.99 (0.95–1.10) |"} {
		if !strings.Contains(got, want) {
			t.Errorf("cost table lacks %q:\n%s", want, got)
		}
	}
}
