// Package loadgen is a small, bounded HTTP/1.1 load generator for tests and
// benchmarks: it sends GET requests to a TCP or unix socket from a fixed
// number of workers and counts what went wrong, by kind.
//
// Requests are written by hand and answers parsed with http.ReadResponse, so
// every failure is the raw error of the socket (no hidden pooling or retries).
// With KeepAlive=false every request uses a new connection, so a moment
// without a listener shows as "refused". With KeepAlive=true each worker keeps
// one connection; a request that fails on a reused connection before any byte
// of the answer arrived (the server closed the idle connection) is retried
// once on a new connection, as HTTP clients do for idempotent requests, and
// counted in Result.Retried; with NoRetry it is a failure instead (what a
// client sees that does not retry, as for a POST), counted by kind and in
// Result.ClosedIdle.
package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config describes a load. See Start for the defaults.
type Config struct {
	Network     string        // "tcp" (default), "tcp4", "tcp6" or "unix"
	Addr        string        // "127.0.0.1:8080" or a unix socket path
	Path        string        // request path, default "/"
	Concurrency int           // workers, default 8
	MaxRequests int           // stop after this many requests in total (0 = no count limit)
	Duration    time.Duration // stop after this long (0 = no time limit); one of the two limits is required
	KeepAlive   bool          // false: a new connection per request; true: reuse connections
	NoRetry     bool          // with KeepAlive: a request failing on a reused connection the server closed is a failure, not retried
	Timeout     time.Duration // per request (dial+write+read), default 5s
	Trace       bool          // keep every request in Result.Samples (for plots and time windows)
}

// Sample is one request of a traced load (Config.Trace).
type Sample struct {
	At      time.Duration // when the request started, since Result.Start
	Latency time.Duration // until the answer was read or the request failed
	Kind    string        // "" for success, else the failure kind (see Kinds)
}

// Failure kinds, the keys of Result.Failures.
const (
	Refused = "refused"
	Reset   = "reset"
	EOF     = "eof"
	Timeout = "timeout"
	Status  = "status" // answer with a non-2xx status
	Other   = "other"
)

// Kinds lists the failure kinds in the order String prints them.
var Kinds = []string{Refused, Reset, EOF, Timeout, Status, Other}

const (
	maxBodies = 1000 // distinct first lines kept in Result.Bodies
	maxErrors = 10   // distinct example messages kept in Result.Errors
	maxLine   = 256  // bytes of a body's first line kept
)

// Latencies of successful requests. Percentiles are accurate to about 3%.
type Latencies struct{ P50, P99, Max time.Duration }

// Result holds the totals of a load.
type Result struct {
	Requests int            // attempted
	OK       int            // 2xx answers read completely
	Failures map[string]int // by kind (see Kinds)
	Bodies   map[string]int // first line of successful bodies -> count (at most 1000 distinct; later new lines are not counted)
	Retried  int            // requests retried once on a new connection after a reused one was closed (KeepAlive only)
	// ClosedIdle counts the failures (with KeepAlive and NoRetry) of requests
	// sent on a reused connection that the server had closed: no byte of an
	// answer came. A client that retries would have retried them (Retried).
	ClosedIdle int
	Latency    Latencies
	Errors     []string // up to 10 distinct example error messages
	Elapsed    time.Duration
	Start      time.Time // when the load started
	Samples    []Sample  // every request in the order they ended, with Config.Trace only
}

// Failed returns the number of failed requests.
func (r Result) Failed() int {
	n := 0
	for _, v := range r.Failures {
		n += v
	}
	return n
}

// String summarizes r on one line.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests=%d ok=%d failed=%d (", r.Requests, r.OK, r.Failed())
	for i, k := range Kinds {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, r.Failures[k])
	}
	fmt.Fprintf(&b, ") p50=%v p99=%v max=%v in %v", short(r.Latency.P50), short(r.Latency.P99), short(r.Latency.Max), short(r.Elapsed))
	return b.String()
}

// short rounds d to about three significant digits.
func short(d time.Duration) time.Duration {
	for r := time.Duration(1); r < time.Second; r *= 10 {
		if d < 1000*r {
			return d.Round(r)
		}
	}
	return d.Round(time.Second)
}

// Load is a running load; see Start.
type Load struct {
	cfg    Config
	req    []byte
	start  time.Time
	issued atomic.Int64
	stop   chan struct{}
	halt   sync.Once
	done   chan struct{}

	mu   sync.Mutex
	res  Result
	hist [2048]int64 // latency histogram, see bucket
	end  time.Time
}

// Run runs a load until its limits are reached or ctx is done.
func Run(ctx context.Context, cfg Config) (Result, error) {
	l, err := Start(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	<-l.done
	return l.Stop(), nil
}

// Start validates cfg, fills in defaults and starts the workers. The load ends
// by itself after MaxRequests requests or Duration, or when ctx is done or Stop
// is called; requests in flight then finish or time out.
func Start(ctx context.Context, cfg Config) (*Load, error) {
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	switch {
	case cfg.Network != "tcp" && cfg.Network != "tcp4" && cfg.Network != "tcp6" && cfg.Network != "unix":
		return nil, fmt.Errorf("loadgen: network %q: want tcp, tcp4, tcp6 or unix", cfg.Network)
	case cfg.Addr == "":
		return nil, errors.New("loadgen: no address")
	case !strings.HasPrefix(cfg.Path, "/") || strings.ContainsAny(cfg.Path, " \r\n"):
		return nil, fmt.Errorf("loadgen: bad path %q", cfg.Path)
	case cfg.Concurrency < 0 || cfg.MaxRequests < 0 || cfg.Duration < 0 || cfg.Timeout < 0:
		return nil, errors.New("loadgen: negative Concurrency, MaxRequests, Duration or Timeout")
	case cfg.MaxRequests == 0 && cfg.Duration == 0:
		return nil, errors.New("loadgen: set MaxRequests or Duration (or both)")
	}
	host, conn := cfg.Addr, "close"
	if cfg.Network == "unix" {
		host = "localhost"
	}
	if cfg.KeepAlive {
		conn = "keep-alive"
	}
	l := &Load{
		cfg:   cfg,
		req:   fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: zedr-load\r\nConnection: %s\r\n\r\n", cfg.Path, host, conn),
		start: time.Now(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	l.res = Result{Failures: map[string]int{}, Bodies: map[string]int{}, Start: l.start}
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(l.worker)
	}
	go func() {
		wg.Wait()
		l.mu.Lock()
		l.end = time.Now()
		l.mu.Unlock()
		close(l.done)
	}()
	go func() { // ends when the workers are done
		var limit <-chan time.Time
		if cfg.Duration > 0 {
			t := time.NewTimer(cfg.Duration)
			defer t.Stop()
			limit = t.C
		}
		select {
		case <-ctx.Done():
		case <-limit:
		case <-l.done:
		}
		l.halt.Do(func() { close(l.stop) })
	}()
	return l, nil
}

// Stop stops the workers, waits for requests in flight to finish or time out
// and returns the totals. It may be called more than once.
func (l *Load) Stop() Result {
	l.halt.Do(func() { close(l.stop) })
	<-l.done
	return l.Snapshot()
}

// Snapshot returns the totals so far without stopping the load.
func (l *Load) Snapshot() Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.res
	r.Failures = make(map[string]int, len(l.res.Failures))
	for k, v := range l.res.Failures {
		r.Failures[k] = v
	}
	r.Bodies = make(map[string]int, len(l.res.Bodies))
	for k, v := range l.res.Bodies {
		r.Bodies[k] = v
	}
	r.Errors = append([]string(nil), l.res.Errors...)
	r.Samples = append([]Sample(nil), l.res.Samples...)
	r.Latency.P50, r.Latency.P99 = l.quantile(0.50), l.quantile(0.99)
	if r.Elapsed = time.Since(l.start); !l.end.IsZero() {
		r.Elapsed = l.end.Sub(l.start)
	}
	return r
}

func (l *Load) worker() {
	var c *pconn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if l.cfg.MaxRequests > 0 && l.issued.Add(1) > int64(l.cfg.MaxRequests) {
			return
		}
		t0 := time.Now()
		deadline := t0.Add(l.cfg.Timeout)
		reused := c != nil
		line, got, err := l.roundTrip(&c, deadline)
		closed := err != nil && reused && !got && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
		retried := closed && !l.cfg.NoRetry
		if retried {
			line, _, err = l.roundTrip(&c, deadline)
		}
		l.record(t0, time.Since(t0), line, retried, closed && !retried, err)
	}
}

// pconn is a connection that counts the bytes read from it.
type pconn struct {
	net.Conn
	br *bufio.Reader
	n  int64
}

func (p *pconn) Read(b []byte) (int, error) {
	n, err := p.Conn.Read(b)
	p.n += int64(n)
	return n, err
}

type statusError int

func (e statusError) Error() string { return fmt.Sprintf("HTTP status %d", int(e)) }

// roundTrip sends one request on *cp (dialing if it is nil) and reads the
// answer. It returns the body's first line, and whether any byte of the answer
// was read. It closes the connection and sets *cp to nil unless it can be reused.
func (l *Load) roundTrip(cp **pconn, deadline time.Time) (line string, got bool, err error) {
	if *cp == nil {
		d := net.Dialer{Deadline: deadline}
		nc, err := d.Dial(l.cfg.Network, l.cfg.Addr)
		if err != nil {
			return "", false, err
		}
		p := &pconn{Conn: nc}
		p.br = bufio.NewReader(p)
		*cp = p
	}
	p := *cp
	n0 := p.n
	keep := false
	defer func() {
		got = p.n > n0
		if !keep {
			p.Close()
			*cp = nil
		}
	}()
	if err := p.SetDeadline(deadline); err != nil {
		return "", false, err
	}
	if _, err := p.Write(l.req); err != nil {
		return "", false, err
	}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return "", false, err
	}
	var h head
	_, err = io.Copy(&h, resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", false, err
	}
	keep = l.cfg.KeepAlive && !resp.Close
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", false, statusError(resp.StatusCode)
	}
	line, _, _ = strings.Cut(string(h), "\n")
	return strings.TrimSuffix(line, "\r"), false, nil
}

// head keeps the first maxLine bytes written to it and discards the rest.
type head []byte

func (h *head) Write(p []byte) (int, error) {
	if r := maxLine - len(*h); r > 0 {
		*h = append(*h, p[:min(r, len(p))]...)
	}
	return len(p), nil
}

// Classify returns the failure kind of an error returned by a request.
func Classify(err error) string {
	var ne net.Error
	var se statusError
	switch {
	case errors.As(err, &se):
		return Status
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EOF
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Timeout
	}
	return Other
}

func (l *Load) record(t0 time.Time, d time.Duration, line string, retried, closedIdle bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.Requests++
	if l.cfg.Trace {
		s := Sample{At: t0.Sub(l.start), Latency: d}
		if err != nil {
			s.Kind = Classify(err)
		}
		l.res.Samples = append(l.res.Samples, s)
	}
	if retried {
		l.res.Retried++
	}
	if closedIdle {
		l.res.ClosedIdle++
	}
	if err != nil {
		l.res.Failures[Classify(err)]++
		msg := err.Error()
		for _, e := range l.res.Errors {
			if e == msg {
				return
			}
		}
		if len(l.res.Errors) < maxErrors {
			l.res.Errors = append(l.res.Errors, msg)
		}
		return
	}
	l.res.OK++
	if _, ok := l.res.Bodies[line]; ok || len(l.res.Bodies) < maxBodies {
		l.res.Bodies[line]++
	}
	l.hist[bucket(d)]++
	l.res.Latency.Max = max(l.res.Latency.Max, d)
}

// The latency histogram has 32 buckets per power of two: durations below
// 64ns have their own bucket, larger ones keep their 6 leading bits.
func bucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 64 {
		return int(v)
	}
	s := bits.Len64(v) - 6
	return s<<5 + int(v>>s) // v>>s is in [32, 64)
}

// bucketMax returns the largest duration that falls in bucket i.
func bucketMax(i int) time.Duration {
	if i < 64 {
		return time.Duration(i)
	}
	s := i>>5 - 1
	m := uint64(i - s<<5)
	return time.Duration((m+1)<<s - 1)
}

// quantile returns the q-quantile of successful latencies (caller holds mu).
func (l *Load) quantile(q float64) time.Duration {
	if l.res.OK == 0 {
		return 0
	}
	rank := int64(q*float64(l.res.OK-1)) + 1
	var n int64
	for i, c := range l.hist {
		if n += c; n >= rank {
			return min(bucketMax(i), l.res.Latency.Max)
		}
	}
	return l.res.Latency.Max
}
