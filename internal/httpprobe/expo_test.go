package httpprobe

import (
	"errors"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"zedr-run/wrapper/control"
)

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", text, err)
	}
	return fams
}

// wantFamilies are the families of a scrape whose status came, with their
// types: zedr-run's own, then those of the Go and process collectors that
// the Prometheus Go client gave and dashboards use.
var wantFamilies = map[string]dto.MetricType{
	"zedr_run_up":                      dto.MetricType_GAUGE,
	"zedr_run_serving":                 dto.MetricType_GAUGE,
	"zedr_run_stopping":                dto.MetricType_GAUGE,
	"zedr_run_restarts_total":          dto.MetricType_COUNTER,
	"zedr_run_rollbacks_total":         dto.MetricType_COUNTER,
	"zedr_run_crashes_total":           dto.MetricType_COUNTER,
	"zedr_run_check_failures_total":    dto.MetricType_COUNTER,
	"zedr_run_start_limit_hits_total":  dto.MetricType_COUNTER,
	"zedr_run_log_lines_dropped_total": dto.MetricType_COUNTER,
	"zedr_run_current_generation":      dto.MetricType_GAUGE,
	"zedr_run_generations":             dto.MetricType_GAUGE,
	"zedr_run_workers":                 dto.MetricType_GAUGE,
	"zedr_run_build_info":              dto.MetricType_GAUGE,
	"zedr_run_time_to_ready_seconds":   dto.MetricType_HISTOGRAM,
	"go_goroutines":                    dto.MetricType_GAUGE,
	"go_threads":                       dto.MetricType_GAUGE,
	"go_info":                          dto.MetricType_GAUGE,
	"go_memstats_heap_alloc_bytes":     dto.MetricType_GAUGE,
	"go_memstats_heap_inuse_bytes":     dto.MetricType_GAUGE,
	"go_memstats_sys_bytes":            dto.MetricType_GAUGE,
	"go_gc_duration_seconds":           dto.MetricType_SUMMARY,
	"process_cpu_seconds_total":        dto.MetricType_COUNTER,
	"process_resident_memory_bytes":    dto.MetricType_GAUGE,
	"process_virtual_memory_bytes":     dto.MetricType_GAUGE,
	"process_start_time_seconds":       dto.MetricType_GAUGE,
	"process_open_fds":                 dto.MetricType_GAUGE,
	"process_max_fds":                  dto.MetricType_GAUGE,
}

// TestEveryFamilyOnce: a scrape has exactly the expected families with
// their types, each with one HELP and one TYPE line before its samples, and
// the content type of the text format 0.0.4; when the supervisor does not
// answer, zedr-run's own families but build_info and up are left out.
func TestEveryFamilyOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		omit []string
	}{
		{"status", nil, nil},
		{"no status", errors.New("no answer"), []string{"zedr_run_serving", "zedr_run_stopping", "zedr_run_restarts_total",
			"zedr_run_rollbacks_total", "zedr_run_crashes_total", "zedr_run_check_failures_total", "zedr_run_start_limit_hits_total",
			"zedr_run_log_lines_dropped_total", "zedr_run_current_generation", "zedr_run_generations", "zedr_run_workers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(func() (control.Status, error) { return serving(3), tc.err }, "v1")
			rec := getRecorder(t, p.Handler(), "/metrics")
			if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			text := rec.Body.String()
			want := maps.Clone(wantFamilies)
			for _, name := range tc.omit {
				delete(want, name)
			}
			fams := parse(t, text)
			if got, w := slices.Sorted(maps.Keys(fams)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
				t.Fatalf("families:\n%v\nwant\n%v", got, w)
			}
			for name, f := range fams {
				if f.GetType() != want[name] {
					t.Errorf("%s is a %v, want a %v", name, f.GetType(), want[name])
				}
				if f.GetHelp() == "" {
					t.Errorf("%s has no HELP", name)
				}
			}
			help, typ := map[string]int{}, map[string]int{}
			current := ""
			for line := range strings.Lines(text) {
				f := strings.Fields(line)
				switch {
				case len(f) >= 3 && f[0] == "#" && f[1] == "HELP":
					help[f[2]]++
					current = f[2]
				case len(f) >= 3 && f[0] == "#" && f[1] == "TYPE":
					typ[f[2]]++
					if f[2] != current {
						t.Errorf("TYPE of %s after HELP of %s", f[2], current)
					}
				case !strings.HasPrefix(line, current):
					t.Errorf("sample %q in family %s", line, current)
				}
			}
			for name := range want {
				if help[name] != 1 || typ[name] != 1 {
					t.Errorf("%s: %d HELP and %d TYPE lines, want 1 of each", name, help[name], typ[name])
				}
			}
		})
	}
}

// TestEscaping: a version with a double quote, a backslash and a newline,
// and a HELP with a backslash and a newline, read back as they were.
func TestEscaping(t *testing.T) {
	version := "v1 \"quoted\" C:\\path\nsecond line"
	p := New(func() (control.Status, error) { return serving(1), nil }, version)
	_, body := get(t, p.Handler(), "/metrics")
	bi := parse(t, body)["zedr_run_build_info"]
	if bi == nil || len(bi.Metric) != 1 {
		t.Fatalf("build_info: %v", bi)
	}
	labels := map[string]string{}
	for _, l := range bi.Metric[0].Label {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != version || labels["goversion"] != runtime.Version() {
		t.Errorf("build_info labels %q, want version %q and goversion %q", labels, version, runtime.Version())
	}

	var e expo
	help := "a \\ backslash,\na newline and \"quotes\""
	e.family("x", typeGauge, help)
	e.sample("x", 1, "l", `\"`+"\n")
	f := parse(t, string(e.b))["x"]
	if f.GetHelp() != help {
		t.Errorf("HELP %q, want %q", f.GetHelp(), help)
	}
	if v := f.Metric[0].Label[0].GetValue(); v != `\"`+"\n" {
		t.Errorf("label %q", v)
	}
}

// TestHistogram: buckets are cumulative, an observation on a bound counts
// in that bound's bucket, one above every bound only in +Inf, and the +Inf
// bucket, _count and _sum agree with what was observed.
func TestHistogram(t *testing.T) {
	p := New(func() (control.Status, error) { return serving(1), nil }, "v1")
	observed := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond,
		time.Second, 59 * time.Second, 10 * time.Minute}
	sum := 0.0
	for _, d := range observed {
		p.ObserveReady(d)
		sum += d.Seconds()
	}
	_, body := get(t, p.Handler(), "/metrics")
	if !strings.Contains(body, `zedr_run_time_to_ready_seconds_bucket{le="+Inf"} 7`+"\n") {
		t.Errorf("no +Inf bucket of 7:\n%s", body)
	}
	h := parse(t, body)["zedr_run_time_to_ready_seconds"].Metric[0].Histogram
	if h.GetSampleCount() != uint64(len(observed)) || math.Abs(h.GetSampleSum()-sum) > 1e-9 {
		t.Errorf("count %d sum %v, want %d and %v", h.GetSampleCount(), h.GetSampleSum(), len(observed), sum)
	}
	var les []float64
	for _, b := range h.Bucket {
		want := uint64(0)
		for _, d := range observed {
			if d.Seconds() <= b.GetUpperBound() {
				want++
			}
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
		if !math.IsInf(b.GetUpperBound(), +1) {
			les = append(les, b.GetUpperBound())
		}
	}
	if !slices.Equal(les, ReadyBuckets) {
		t.Errorf("bounds %v, want %v", les, ReadyBuckets)
	}
}

// TestGCDuration: go_gc_duration_seconds is a summary whose count is the
// number of collections (what the soak reads), with quantiles 0 to 1 in
// order.
func TestGCDuration(t *testing.T) {
	p := New(func() (control.Status, error) { return serving(1), nil }, "v1")
	runtime.GC()
	runtime.GC()
	var before, after debug.GCStats
	debug.ReadGCStats(&before)
	_, body := get(t, p.Handler(), "/metrics")
	debug.ReadGCStats(&after)
	s := parse(t, body)["go_gc_duration_seconds"].Metric[0].Summary
	if n := s.GetSampleCount(); n < uint64(before.NumGC) || n > uint64(after.NumGC) || n < 2 {
		t.Errorf("count %d, want %d to %d (and at least 2)", n, before.NumGC, after.NumGC)
	}
	var qs []float64
	last := -1.0
	for _, q := range s.Quantile {
		qs = append(qs, q.GetQuantile())
		if q.GetValue() < last {
			t.Errorf("quantile %v: %v below the one before (%v)", q.GetQuantile(), q.GetValue(), last)
		}
		last = q.GetValue()
	}
	if !slices.Equal(qs, []float64{0, 0.25, 0.5, 0.75, 1}) || last <= 0 || s.GetSampleSum() < last {
		t.Errorf("quantiles %v, max %v, sum %v", qs, last, s.GetSampleSum())
	}
}

// TestProcessMetrics: the process_ families hold this test process's own
// figures.
func TestProcessMetrics(t *testing.T) {
	p := New(func() (control.Status, error) { return serving(1), nil }, "v1")
	_, body := get(t, p.Handler(), "/metrics")
	fams := parse(t, body)
	v := func(name string) float64 {
		f := fams[name]
		if f == nil {
			t.Fatalf("no %s", name)
		}
		if m := f.Metric[0]; m.Counter != nil {
			return m.Counter.GetValue()
		}
		return f.Metric[0].Gauge.GetValue()
	}
	sys, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	btime, err := parseBootTime(sys)
	if err != nil {
		t.Fatal(err)
	}
	if start := v("process_start_time_seconds"); start < btime || start > float64(time.Now().Unix()+1) {
		t.Errorf("process_start_time_seconds %v, not between boot (%v) and now", start, btime)
	}
	if rss := v("process_resident_memory_bytes"); rss < 1<<20 || rss > v("process_virtual_memory_bytes") {
		t.Errorf("resident %v, virtual %v", rss, v("process_virtual_memory_bytes"))
	}
	if n := v("process_open_fds"); n < 3 || n > v("process_max_fds") {
		t.Errorf("open fds %v, max %v", n, v("process_max_fds"))
	}
	if v("process_cpu_seconds_total") < 0 {
		t.Errorf("cpu %v", v("process_cpu_seconds_total"))
	}
}

// TestParseProc: the /proc parsers on fixed input: a command name with
// spaces and parentheses, times in USER_HZ, the soft limit of open files.
func TestParseProc(t *testing.T) {
	stat := "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 7 0 12345 1600561152 2003 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseStat([]byte(stat), 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	if want := (procStat{cpuSeconds: 3.8, startTime: 1700000123.45, virtualBytes: 1600561152, residentPage: 2003}); st != want {
		t.Errorf("parseStat: %+v, want %+v", st, want)
	}
	if _, err := parseStat([]byte("4242 (a) S 1 2"), 0); err == nil {
		t.Error("parseStat of a short line: no error")
	}
	if b, err := parseBootTime([]byte("cpu  1 2 3\nintr 5\nbtime 1796299413\nprocesses 9\n")); err != nil || b != 1796299413 {
		t.Errorf("parseBootTime: %v, %v", b, err)
	}
	limits := "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max processes             63448                63448                processes \n" +
		"Max open files            20000                524288               files     \n"
	if n, err := parseMaxFDs([]byte(limits)); err != nil || n != 20000 {
		t.Errorf("parseMaxFDs: %v, %v", n, err)
	}
	if n, err := parseMaxFDs([]byte("Max open files            unlimited            unlimited            files\n")); err != nil || n != float64(^uint64(0)) {
		t.Errorf("parseMaxFDs unlimited: %v, %v", n, err)
	}
}
