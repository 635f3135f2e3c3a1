package httpprobe

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"zedr-run/wrapper/control"
)

// Probes answers /healthz, /readyz and /metrics from a supervisor's status.
type Probes struct {
	fetch   *fetcher
	ready   *histogram
	version string
}

// New builds the endpoints for the supervisor that status asks (wrapper's
// Supervisor.Status) and zedr-run's version.
func New(status func() (control.Status, error), version string) *Probes {
	return &Probes{fetch: &fetcher{status: status, timeout: StatusTimeout}, ready: newHistogram(ReadyBuckets), version: version}
}

// ObserveReady records one generation's time to ready. It never blocks: it
// is wrapper.Config.OnReady, called on the supervisor's loop.
func (p *Probes) ObserveReady(after time.Duration) { p.ready.observe(after.Seconds()) }

// Handler serves /healthz, /readyz and /metrics.
func (p *Probes) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := p.fetch.get(r.Context()); err != nil {
			http.Error(w, fmt.Sprintf("not supervising: %v", err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		st, err := p.fetch.get(r.Context())
		switch {
		case err != nil:
			http.Error(w, fmt.Sprintf("not supervising: %v", err), http.StatusServiceUnavailable)
		case st.Stopping:
			http.Error(w, "stopping", http.StatusServiceUnavailable)
		case !st.Serving():
			http.Error(w, "no ready generation serves", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write(p.metrics(r.Context()))
	})
	return mux
}

// metrics is one scrape's /metrics: zedr-run's own families from the
// supervisor's status, the time-to-ready histogram, then the Go runtime's
// and the process's.
func (p *Probes) metrics(ctx context.Context) []byte {
	var e expo
	st, err := p.fetch.get(ctx)
	writeStatus(&e, p.version, st, err)
	p.ready.write(&e, mReady, helpReady)
	writeGo(&e)
	writeProcess(&e)
	return e.b
}

// Timeouts of the HTTP server: probes and scrapes are small requests on
// loopback or a pod network; a client slower than this is cut off rather
// than holding a connection.
const (
	readTimeout  = 10 * time.Second
	writeTimeout = 30 * time.Second // a scrape waits at most StatusTimeout for the status
	idleTimeout  = 60 * time.Second
)

// Server is an http.Server for Handler with bounded timeouts.
func (p *Probes) Server() *http.Server {
	return &http.Server{Handler: p.Handler(), ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
}
