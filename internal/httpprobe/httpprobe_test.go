package httpprobe

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"zedr-run/wrapper/control"
)

func serving(gen int) control.Status {
	return control.Status{Restarts: 2, Rollbacks: 1, Crashes: 3, CheckFailures: 4, LogLinesDropped: 5, Generations: []control.GenerationStatus{
		{Gen: gen - 1, State: "draining", Workers: []control.WorkerStatus{{State: "draining"}}},
		{Gen: gen, State: "ready", Current: true, Workers: []control.WorkerStatus{{State: "ready"}, {State: "ready"}}},
		{Gen: gen - 2, State: "exited", Workers: []control.WorkerStatus{{State: "exited"}}},
	}}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := getRecorder(t, h, path)
	return rec.Code, rec.Body.String()
}

func getRecorder(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

// TestProbesFollowStatus: /readyz is 200 only while a generation serves and
// zedr-run is not stopping; /healthz while the supervisor answers.
func TestProbesFollowStatus(t *testing.T) {
	for _, tc := range []struct {
		name           string
		st             control.Status
		health, readyz int
	}{
		{"serving", serving(3), 200, 200},
		{"stopping", func() control.Status { st := serving(3); st.Stopping = true; return st }(), 200, 503},
		{"nothing serves", control.Status{Generations: []control.GenerationStatus{{Gen: 1, State: "starting"}}}, 200, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(func() (control.Status, error) { return tc.st, nil }, "test").Handler()
			if code, _ := get(t, h, "/healthz"); code != tc.health {
				t.Errorf("/healthz: %d, want %d", code, tc.health)
			}
			if code, body := get(t, h, "/readyz"); code != tc.readyz {
				t.Errorf("/readyz: %d %q, want %d", code, body, tc.readyz)
			}
		})
	}
}

// TestSupervisorThatDoesNotAnswer: a status that never comes fails the
// probes within the timeout, and however many requests arrive, the status
// function runs once at a time.
func TestSupervisorThatDoesNotAnswer(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	p := New(func() (control.Status, error) {
		calls.Add(1)
		<-release
		return serving(1), nil
	}, "test")
	p.fetch.timeout = 50 * time.Millisecond
	h := p.Handler()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if code, _ := get(t, h, "/healthz"); code != 503 {
				t.Errorf("/healthz with a supervisor that does not answer: %d, want 503", code)
			}
		})
	}
	wg.Wait()
	if code, body := get(t, h, "/metrics"); code != 200 || !strings.Contains(body, "zedr_run_up 0") {
		t.Errorf("/metrics with a supervisor that does not answer: %d, want 200 with zedr_run_up 0:\n%s", code, body)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the status function ran %d times at once; want 1", n)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := get(t, h, "/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after the supervisor answered", code)
		}
	}
}

// TestMetricsParse: /metrics is valid exposition format and carries the
// status's counters, the generations and workers by state and the
// observed time to ready.
func TestMetricsParse(t *testing.T) {
	p := New(func() (control.Status, error) { return serving(7), nil }, "v1.2.3")
	p.ObserveReady(300 * time.Millisecond)
	code, body := get(t, p.Handler(), "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	fams := parse(t, body)
	value := func(name string, label ...string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s", name)
		}
	next:
		for _, m := range f.Metric {
			for i := 0; i < len(label); i += 2 {
				found := false
				for _, l := range m.Label {
					found = found || (l.GetName() == label[i] && l.GetValue() == label[i+1])
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("no %s%v", name, label)
		return 0
	}
	for name, want := range map[string]float64{
		"zedr_run_up": 1, "zedr_run_serving": 1, "zedr_run_restarts_total": 2, "zedr_run_rollbacks_total": 1,
		"zedr_run_crashes_total": 3, "zedr_run_check_failures_total": 4, "zedr_run_log_lines_dropped_total": 5,
		"zedr_run_start_limit_hits_total": 0, "zedr_run_current_generation": 7, "zedr_run_time_to_ready_seconds": 1,
	} {
		if got := value(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, c := range []struct {
		name, state string
		want        float64
	}{{"zedr_run_generations", "ready", 1}, {"zedr_run_generations", "draining", 1}, {"zedr_run_generations", "starting", 0},
		{"zedr_run_workers", "ready", 2}, {"zedr_run_workers", "draining", 1}} {
		if got := value(c.name, "state", c.state); got != c.want {
			t.Errorf("%s{state=%q} = %v, want %v", c.name, c.state, got, c.want)
		}
	}
	if got := value("zedr_run_build_info", "version", "v1.2.3"); got != 1 {
		t.Errorf("build_info = %v", got)
	}
}
