package e2e

import (
	"path/filepath"
	"syscall"
	"testing"

	"zedr-run/wrapper/control"
)

// Guarantee: /healthz, /readyz and /metrics tell what `zedr-run status` tells (--http).

// TestMetricsMatchStatus: after a restart, a rollback and a crash, the
// counters and gauges scraped from /metrics (parsed with the Prometheus
// text parser) are those of `zedr-run status --json`, and the
// time-to-ready histogram counts each generation that became ready.
func TestMetricsMatchStatus(t *testing.T) {
	dir := t.TempDir()
	app, ctl, httpAddr := filepath.Join(dir, "app"), filepath.Join(dir, "ctl.sock"), freePort(t)
	good := "exec " + bin("testserver") + " -notify"
	writeScript(t, app, good)
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--ready-timeout", "5s", "--no-watch",
		"--control", ctl, "--http", httpAddr, "--", app)
	z.readyPID(1)
	z.waitLog(`msg="serving /healthz, /readyz and /metrics" addr=http://` + httpAddr)
	if code := probeHTTP(t, httpAddr, "/healthz"); code != 200 {
		t.Fatalf("/healthz %d while supervising, want 200", code)
	}
	if code := probeHTTP(t, httpAddr, "/readyz"); code != 200 {
		t.Fatalf("/readyz %d while serving, want 200", code)
	}

	z.signal(sigUSR2) // a restart: generation 2 takes over
	pid2 := z.readyPID(2)
	writeScript(t, app, "echo broken build >&2; exit 3")
	z.signal(sigUSR2) // a rollback: generation 3 exits before ready
	z.waitLog(`msg="generation rolled back" gen=3 `)
	writeScript(t, app, good)
	if err := syscall.Kill(pid2, syscall.SIGKILL); err != nil { // a crash: generation 4 replaces it
		t.Fatal(err)
	}
	z.readyPID(4)
	// Only generation 4 left, so that the gauges hold still between the
	// status and the scrape.
	waitStatus(t, ctl, "generation 4 alone", func(st control.Status) bool {
		return len(liveGens(st)) == 1 && liveGens(st)[0] == 4
	})

	st := statusJSON(t, ctl)
	fams := scrape(t, httpAddr)
	current := 0
	for _, g := range st.Generations {
		if g.Current {
			current = g.Gen
		}
	}
	for _, c := range []struct {
		metric string
		label  []string
		want   float64
	}{
		{"zedr_run_up", nil, 1},
		{"zedr_run_serving", nil, 1},
		{"zedr_run_stopping", nil, 0},
		{"zedr_run_restarts_total", nil, float64(st.Restarts)},
		{"zedr_run_rollbacks_total", nil, float64(st.Rollbacks)},
		{"zedr_run_crashes_total", nil, float64(st.Crashes)},
		{"zedr_run_check_failures_total", nil, float64(st.CheckFailures)},
		{"zedr_run_start_limit_hits_total", nil, 0},
		{"zedr_run_log_lines_dropped_total", nil, float64(st.LogLinesDropped)},
		{"zedr_run_current_generation", nil, float64(current)},
		{"zedr_run_generations", []string{"state", "ready"}, 1},
		{"zedr_run_generations", []string{"state", "starting"}, 0},
		{"zedr_run_workers", []string{"state", "ready"}, 1},
		{"zedr_run_time_to_ready_seconds", nil, 3}, // generations 1, 2 and 4
		{"zedr_run_build_info", []string{"version", st.Version}, 1},
	} {
		if got := metricValue(t, fams, c.metric, c.label...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.label, got, c.want)
		}
	}
	if st.Restarts != 1 || st.Rollbacks != 1 || st.Crashes != 1 || current != 4 {
		t.Errorf("status: restarts %d rollbacks %d crashes %d current %d; want 1, 1, 1, 4", st.Restarts, st.Rollbacks, st.Crashes, current)
	}
	t.Logf("status and /metrics agree: restarts %d, rollbacks %d, crashes %d, current generation %d, version %q",
		st.Restarts, st.Rollbacks, st.Crashes, current, st.Version)
}

// TestReadyzDuringStopDelay: from SIGTERM on, through the whole stop delay
// while the child still serves every request, /readyz answers 503 (as
// `zedr-run status` exits 3) and /healthz 200; /metrics says stopping.
func TestReadyzDuringStopDelay(t *testing.T) {
	dir := t.TempDir()
	ctl, httpAddr := filepath.Join(dir, "ctl.sock"), freePort(t)
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--control", ctl, "--http", httpAddr,
		"--stop-delay", "1h", "--", bin("testserver"), "-notify")
	z.readyPID(1)
	z.waitLog(`msg="serving /healthz, /readyz and /metrics"`)
	if code := probeHTTP(t, httpAddr, "/readyz"); code != 200 {
		t.Fatalf("/readyz %d while serving, want 200", code)
	}
	load := startLoad(t, z.addr)
	waitRequests(t, load, 100)
	z.signal(syscall.SIGTERM)
	z.waitLog(`msg="serving on for the stop delay before stopping"`)
	before := load.Snapshot().Requests
	for i := range 5 {
		if code := probeHTTP(t, httpAddr, "/readyz"); code != 503 {
			t.Fatalf("/readyz %d during the stop delay (probe %d), want 503", code, i)
		}
		if code := probeHTTP(t, httpAddr, "/healthz"); code != 200 {
			t.Fatalf("/healthz %d during the stop delay, want 200", code)
		}
	}
	if code := statusCode(t, ctl); code != 3 {
		t.Fatalf("status exited %d during the stop delay, want 3", code)
	}
	fams := scrape(t, httpAddr)
	if s, r := metricValue(t, fams, "zedr_run_stopping"), metricValue(t, fams, "zedr_run_serving"); s != 1 || r != 0 {
		t.Errorf("during the stop delay zedr_run_stopping %v, zedr_run_serving %v; want 1 and 0", s, r)
	}
	waitRequests(t, load, 200)
	res := stopLoad(t, load, "during the stop delay, with /readyz 503")
	t.Logf("%d requests served during the stop delay while /readyz said 503", res.Requests-before)
	z.signal(syscall.SIGTERM) // skips the rest of the delay
	if code := z.wait(); code != 0 {
		t.Fatalf("zedr-run exited %d, want 0", code)
	}
	if n := z.countLog(`msg="stopping generation"`); n != 1 {
		t.Errorf("%d 'stopping generation' lines, want 1", n)
	}
}
