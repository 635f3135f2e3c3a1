//go:build linux

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/urfave/cli/v2"

	"zedr-run/internal/httpprobe"
	"zedr-run/wrapper"
	"zedr-run/wrapper/control"
)

// httpFlag is --http: the probes and metrics endpoint, off by default
// (it is one more listening port, which a user should choose to open).
var httpFlag = &cli.StringFlag{Name: "http", EnvVars: []string{"ZEDR_HTTP"},
	Usage: "serve /healthz (200 while zedr-run supervises), /readyz (200 while a ready generation serves, 503 from the moment a stop begins, --stop-delay included) and /metrics (Prometheus) on `ADDR` (host:port, e.g. 127.0.0.1:9090); never on the service's sockets"}

// httpEndpoint is --http: its listener, opened before the supervisor starts
// (a busy address is a startup failure), served once it runs.
type httpEndpoint struct {
	ln     net.Listener
	probes *httpprobe.Probes
	sv     *wrapper.Supervisor // set by serve, before the first request is accepted
}

// checkHTTP refuses a --http value that is no HOST:PORT, before anything
// starts.
func checkHTTP(c *cli.Context) error {
	if addr := c.String("http"); addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return usagef("bad --http %q: want HOST:PORT, e.g. 127.0.0.1:9090: %v", addr, err)
		}
	}
	return nil
}

// openHTTP opens --http's listener and wires the time-to-ready histogram
// into cfg; nil without --http.
func openHTTP(c *cli.Context, cfg *wrapper.Config) (*httpEndpoint, error) {
	addr := c.String("http")
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http: %w", err)
	}
	h := &httpEndpoint{ln: ln}
	h.probes = httpprobe.New(func() (control.Status, error) { return h.sv.Status() }, cfg.Version)
	cfg.OnReady = h.probes.ObserveReady
	return h, nil
}

// serve answers requests for sv until the returned stop is called.
func (h *httpEndpoint) serve(sv *wrapper.Supervisor, logger *slog.Logger) (stop func()) {
	if h == nil {
		return func() {}
	}
	h.sv = sv
	srv := h.probes.Server()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("--http stopped serving", "addr", h.ln.Addr().String(), "err", err)
		}
	}()
	logger.Info("serving /healthz, /readyz and /metrics", "addr", "http://"+h.ln.Addr().String())
	return func() {
		srv.Close()
		<-done
	}
}
