package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"
	"time"
)

// hello answers every request with a two-line body.
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(w, "generation=1 pid=42 worker=-\nsecond line\n")
})

func run(t *testing.T, cfg Config) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.Requests != r.OK+r.Failed() {
		t.Errorf("requests=%d != ok=%d + failed=%d", r.Requests, r.OK, r.Failed())
	}
	return r
}

// rawServer accepts connections on 127.0.0.1 and hands each to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for { // ends when the listener is closed
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

// readRequest reads one request's header block.
func readRequest(br *bufio.Reader) error {
	for range 100 {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
	return fmt.Errorf("header too long")
}

func TestOK(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(hello)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	for _, keep := range []bool{false, true} {
		conns.Store(0)
		r := run(t, Config{Addr: addr, MaxRequests: 300, KeepAlive: keep})
		if r.OK != 300 || r.Failed() != 0 {
			t.Errorf("keepalive=%v: %v %v", keep, r, r.Errors)
		}
		if want := map[string]int{"generation=1 pid=42 worker=-": 300}; fmt.Sprint(r.Bodies) != fmt.Sprint(want) {
			t.Errorf("bodies %v, want %v", r.Bodies, want)
		}
		if r.Latency.P50 <= 0 || r.Latency.P50 > r.Latency.P99 || r.Latency.P99 > r.Latency.Max {
			t.Errorf("latencies %+v", r.Latency)
		}
		n := conns.Load()
		if (!keep && n != 300) || (keep && n > 8) {
			t.Errorf("keepalive=%v: %d connections for 300 requests", keep, n)
		}
	}
}

func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := run(t, Config{Addr: addr, MaxRequests: 50, Concurrency: 4})
	if r.Requests != 50 || r.Failures[Refused] != 50 || len(r.Errors) != 1 {
		t.Errorf("%v %q", r, r.Errors)
	}
}

func TestEOF(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) { readRequest(bufio.NewReader(c)) })
	r := run(t, Config{Addr: addr, MaxRequests: 50})
	if r.Failures[EOF] != 50 {
		t.Errorf("%v %q", r, r.Errors)
	}
}

func TestReset(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		readRequest(bufio.NewReader(c))
		c.(*net.TCPConn).SetLinger(0)
	})
	r := run(t, Config{Addr: addr, MaxRequests: 50})
	if r.Failures[Reset] != 50 {
		t.Errorf("%v %q", r, r.Errors)
	}
}

func TestTimeout(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) { c.Read(make([]byte, 4096)); time.Sleep(2 * time.Second) })
	t0 := time.Now()
	r := run(t, Config{Addr: addr, MaxRequests: 4, Concurrency: 4, Timeout: 100 * time.Millisecond})
	if r.Failures[Timeout] != 4 || time.Since(t0) > time.Second {
		t.Errorf("%v %q", r, r.Errors)
	}
}

func TestStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", 500)
	}))
	defer srv.Close()
	for _, keep := range []bool{false, true} {
		r := run(t, Config{Addr: srv.Listener.Addr().String(), MaxRequests: 40, KeepAlive: keep})
		if r.Failures[Status] != 40 || r.OK != 0 || len(r.Bodies) != 0 {
			t.Errorf("%v %q", r, r.Errors)
		}
	}
}

func TestUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var paths atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.Host + r.URL.Path)
		hello(w, r)
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	for _, keep := range []bool{false, true} {
		r := run(t, Config{Network: "unix", Addr: path, Path: "/x", MaxRequests: 100, KeepAlive: keep})
		if r.OK != 100 || r.Bodies["generation=1 pid=42 worker=-"] != 100 {
			t.Errorf("%v %q", r, r.Errors)
		}
	}
	if p := paths.Load(); p != "localhost/x" {
		t.Errorf("server saw %v", p)
	}
}

func TestMaxRequestsExact(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	r := run(t, Config{Addr: srv.Listener.Addr().String(), MaxRequests: 1001, Concurrency: 16, KeepAlive: true})
	if r.Requests != 1001 || r.OK != 1001 || n.Load() != 1001 {
		t.Errorf("%v, server saw %d", r, n.Load())
	}
	if r.Bodies[""] != 1001 {
		t.Errorf("bodies %v", r.Bodies)
	}
}

// A server that closes each connection after one answer without saying so:
// keep-alive requests are retried once on a new connection and succeed.
func TestKeepAliveRetry(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		if readRequest(bufio.NewReader(c)) == nil {
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
		}
	})
	r := run(t, Config{Addr: addr, MaxRequests: 50, Concurrency: 2, KeepAlive: true})
	if r.OK != 50 || r.Retried == 0 || r.Bodies["ok"] != 50 {
		t.Errorf("%v retried=%d %q", r, r.Retried, r.Errors)
	}
}

// The same server with NoRetry: every request on a reused connection fails,
// counted by kind and as ClosedIdle, and the next one dials anew.
func TestKeepAliveNoRetry(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		if readRequest(bufio.NewReader(c)) == nil {
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
		}
	})
	r := run(t, Config{Addr: addr, MaxRequests: 50, Concurrency: 2, KeepAlive: true, NoRetry: true})
	if r.Retried != 0 || r.ClosedIdle == 0 || r.ClosedIdle != r.Failed() || r.OK+r.ClosedIdle != 50 ||
		r.Failures[EOF]+r.Failures[Reset] != r.ClosedIdle {
		t.Errorf("%v retried=%d closed-idle=%d %q", r, r.Retried, r.ClosedIdle, r.Errors)
	}
}

func TestStopAndDuration(t *testing.T) {
	srv := httptest.NewServer(hello)
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	l, err := Start(context.Background(), Config{Addr: addr, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if s := l.Snapshot(); s.OK == 0 {
		t.Errorf("snapshot %v", s)
	}
	t0 := time.Now()
	r := l.Stop()
	if d := time.Since(t0); d > time.Second || r.OK == 0 || r.Failed() != 0 {
		t.Errorf("Stop took %v: %v", d, r)
	}
	if r2 := l.Stop(); r2.Requests != r.Requests {
		t.Errorf("second Stop: %v != %v", r2, r)
	}

	r = run(t, Config{Addr: addr, Duration: 300 * time.Millisecond, Concurrency: 2})
	if r.Elapsed < 300*time.Millisecond || r.Elapsed > 2*time.Second || r.OK == 0 {
		t.Errorf("duration: %v", r)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r, err = Run(ctx, Config{Addr: addr, Duration: time.Hour})
	if err != nil || r.Elapsed > 2*time.Second || r.Failed() != 0 {
		t.Errorf("ctx: %v %v", r, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Addr: "127.0.0.1:1"},
		{MaxRequests: 1},
		{Addr: "127.0.0.1:1", MaxRequests: 1, Network: "udp"},
		{Addr: "127.0.0.1:1", MaxRequests: 1, Path: "x"},
		{Addr: "127.0.0.1:1", MaxRequests: -1},
	} {
		if _, err := Start(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestStringAndBuckets(t *testing.T) {
	r := Result{Requests: 10234, OK: 10230, Failures: map[string]int{EOF: 4},
		Latency: Latencies{1234 * time.Microsecond, 8 * time.Millisecond, 30 * time.Millisecond}, Elapsed: 12345 * time.Millisecond}
	want := "requests=10234 ok=10230 failed=4 (refused=0 reset=0 eof=4 timeout=0 status=0 other=0) p50=1.23ms p99=8ms max=30ms in 12.3s"
	if got := r.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !regexp.MustCompile(`^requests=0 ok=0 failed=0 \(.*\) p50=0s`).MatchString(Result{}.String()) {
		t.Error(Result{}.String())
	}
	prev := -1
	for _, d := range []time.Duration{0, 1, 63, 64, 65, 1000, 999999, time.Second, time.Hour, 1<<63 - 1} {
		i := bucket(d)
		if i < prev || i >= 2048 || bucketMax(i) < d || (i > 0 && bucketMax(i-1) >= d) || float64(bucketMax(i)-d) > float64(d)/32 {
			t.Errorf("bucket(%d)=%d max %d", d, i, bucketMax(i))
		}
		prev = i
	}
}

func TestTrace(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		hello(w, r)
	}))
	defer srv.Close()
	r := run(t, Config{Addr: srv.Listener.Addr().String(), MaxRequests: 100, Concurrency: 1, Trace: true})
	if len(r.Samples) != 100 || r.Start.IsZero() {
		t.Fatalf("%d samples, start %v; want 100 and a start time", len(r.Samples), r.Start)
	}
	kinds := map[string]int{}
	for i, s := range r.Samples {
		kinds[s.Kind]++
		if s.Latency <= 0 || s.At < 0 || s.At+s.Latency > r.Elapsed {
			t.Errorf("sample %d: %+v outside the load's %v", i, s, r.Elapsed)
		}
		if i > 0 && s.At < r.Samples[i-1].At { // one worker: in order
			t.Errorf("sample %d at %v before sample %d at %v", i, s.At, i-1, r.Samples[i-1].At)
		}
	}
	if kinds[""] != r.OK || kinds[Status] != r.Failures[Status] || kinds[""]+kinds[Status] != 100 {
		t.Errorf("sample kinds %v, result %v", kinds, r)
	}
	if r := run(t, Config{Addr: srv.Listener.Addr().String(), MaxRequests: 10}); r.Samples != nil {
		t.Errorf("%d samples without Trace", len(r.Samples))
	}
}
