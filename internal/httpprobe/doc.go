// Package httpprobe serves zedr-run's HTTP endpoints for orchestrators and
// monitoring (--http): /healthz, /readyz and /metrics in the Prometheus
// exposition format.
//
// Guarantees:
//   - Never on the data path: it serves its own listener; the service's
//     sockets and children know nothing of it.
//   - It never makes the supervisor wait. It knows the supervisor only
//     through a status function (wrapper's Supervisor.Status, which posts a
//     request whose reply channel is buffered, so the loop answers without
//     waiting for the reader), and it calls that function on its own
//     goroutine, at most one call at a time however many scrapes and probes
//     arrive together, each waiting at most StatusTimeout. A supervisor that
//     does not answer in time fails the request (503, or a scrape that says
//     zedr_run_up 0); it is never queued behind.
//   - /healthz is 200 while the supervisor answers, /readyz is 200 only while
//     a ready generation serves and zedr-run is not stopping (control.Status's
//     Serving, as `zedr-run status` exits 0), 503 otherwise; both from the
//     same status, so they change together with `zedr-run status`.
//   - Every counter of /metrics comes from the supervisor's own status
//     (restarts, rollbacks, crashes, check failures, the start limit, dropped
//     log lines), so it matches `zedr-run status --json`; the time-to-ready
//     histogram from the supervisor's own ready events (ObserveReady, wired
//     to wrapper.Config.OnReady), which never block.
//   - /metrics is written here, in the text exposition format 0.0.4
//     (expo.go), not with the Prometheus Go client: linking the client
//     (with client_model, protobuf and procfs) made zedr-run's binary 18 MB
//     instead of 14.5, its RSS 2.5 MiB larger and every restart's shim 1 ms
//     slower to start, for ~20 families. The names, types, HELP texts and
//     labels are the client's: zedr-run's own families, the time-to-ready
//     histogram, and the Go (gometrics.go) and process (process.go, from
//     /proc) metrics that dashboards use.
package httpprobe
