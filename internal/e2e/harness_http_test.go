package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"zedr-run/wrapper/control"
)

// httpClient is for zedr-run's --http endpoints: bounded, no keep-alive
// (each probe as a kubelet makes it).
var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// probeHTTP GETs http://addr/path and returns the status code.
func probeHTTP(t *testing.T, addr, path string) int {
	t.Helper()
	res, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// scrape GETs /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := httpClient.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("scrape: %s", res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricValue is the value of the sample of name whose labels include
// label (name, value pairs): a counter's or gauge's value, a histogram's
// or summary's count.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, label ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("/metrics has no %s", name)
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(label); i += 2 {
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
		case m.Summary != nil:
			return float64(m.Summary.GetSampleCount())
		}
	}
	t.Fatalf("/metrics has no %s%v", name, label)
	return 0
}

// statusJSON runs `zedr-run status --json` against ctl.
func statusJSON(t *testing.T, ctl string) control.Status {
	t.Helper()
	out, err := execZedr("status", "--json", "--control", ctl).Output()
	var exit *exec.ExitError // 3: not serving, the status printed all the same
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
		t.Fatalf("zedr-run status --json: %v", err)
	}
	var st control.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("zedr-run status --json: %v in %q", err, out)
	}
	return st
}
