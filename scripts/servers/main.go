// Command servers runs real, unmodified servers under zedr-run in
// transparent mode (--intercept-bind with a declared --listen), restarts
// each of them again and again under load, and prints one row per server
// and stop signal: the exact zedr-run command line, the requests made and
// those that failed, by kind. It backs the README's table "Which stop signal
// for which server":
//
//	go run ./scripts/servers                  # every server
//	go run ./scripts/servers -server lighttpd,memcached -restarts 20
//
// Each server runs once with its graceful stop signal and, where that is not
// TERM (zedr-run's default), once more with TERM, to show what TERM loses.
// Missing servers are installed from Debian when run as root (apt-get, with
// a policy-rc.d that forbids starting their system services); otherwise they
// are skipped. Everything binds 127.0.0.1 on a port the kernel picks, in a
// temporary directory; every process is stopped before the next server.
//
// Not a test: the figures depend on the machine and on what else runs on it.
// The e2e tests in internal/e2e (stop_signal_per_server_test.go) assert the
// rows whose graceful stop is not TERM.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"zedr-run/internal/loadgen"
)

// waitLimit bounds every wait of the driver: a start, a restart, the load's
// progress. A server that does not make it in that long is reported, not
// waited for.
const waitLimit = 60 * time.Second

func main() {
	only := flag.String("server", "", "comma-separated servers to run (default: all); one of "+strings.Join(names(), ", "))
	restarts := flag.Int("restarts", 10, "restarts under load per run")
	zedr := flag.String("zedr-run", "", "zedr-run binary (default: built from this repository)")
	flag.Parse()

	work, err := os.MkdirTemp("", "zedr-servers-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(work)
	if *zedr == "" {
		*zedr = filepath.Join(work, "zedr-run")
		build := exec.Command("go", "build", "-o", *zedr, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fatal(fmt.Errorf("go build zedr-run: %w", err))
		}
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	fmt.Printf("%d restarts under load per run (HTTP: %d clients, a new connection per request; memcached: %d clients, set+get per connection; DNS: %d clients over UDP, %s per query)\n\n",
		*restarts, httpClients, memcacheClients, dnsClients, dnsTimeout)
	fmt.Println("| server | version | stop signal | requests | failed | by kind | killed at --stop-timeout | restart, mean | zedr-run command line |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	failed := false
	for _, s := range servers {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		if why := ensure(s); why != "" {
			fmt.Printf("| %s | | | | | skipped: %s | | | |\n", s.name, why)
			continue
		}
		version := s.version()
		for _, v := range s.variants {
			dir, err := os.MkdirTemp(work, s.name+"-")
			if err != nil {
				fatal(err)
			}
			r := run(*zedr, dir, s, v, *restarts)
			if r.err != nil {
				failed = true
				fmt.Printf("| %s | %s | %s | | | ERROR: %v | | | `%s` |\n", s.name, version, v.label(), r.err, r.cmdline)
				if r.log != "" {
					fmt.Fprintf(os.Stderr, "--- %s %s: last lines of zedr-run's log\n%s\n", s.name, v.label(), r.log)
				}
				continue
			}
			fmt.Printf("| %s | %s | %s | %d | %d | %s | %d of %d | %s | `%s` |\n", s.name, version, v.label(), r.requests, r.failed(), r.kinds(),
				r.killed, *restarts, r.restart.Round(time.Millisecond), r.cmdline)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "servers:", err)
	os.Exit(1)
}

// result is one run's figures.
type result struct {
	cmdline  string
	requests int
	failures map[string]int
	examples []string
	killed   int           // generations killed at --stop-timeout: the stop signal did not stop them
	restart  time.Duration // mean time from the restart's signal to the old generation's exit
	err      error
	log      string // the end of zedr-run's log, when err != nil
}

func (r result) failed() int {
	n := 0
	for _, c := range r.failures {
		n += c
	}
	return n
}

func (r result) kinds() string {
	var ks []string
	for k, n := range r.failures {
		if n > 0 {
			ks = append(ks, fmt.Sprintf("%s %d", k, n))
		}
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(ks, ", ")
}

// run starts s under zedr-run as variant v describes, loads it, restarts it
// n times, and stops it.
func run(zedrRun, dir string, s server, v variant, n int) (r result) {
	port, err := freePort()
	if err != nil {
		return result{err: err}
	}
	c := s.setup(dir, port, v)
	args := []string{"--intercept-bind"}
	for _, l := range c.listen {
		args = append(args, "--listen", l)
	}
	args = append(args, "--ready", c.ready)
	if v.signal != "TERM" {
		args = append(args, "--stop-signal", v.signal)
	}
	args = append(args, "--")
	args = append(args, c.command...)
	// Shown with the run's directory as $DIR and its port as $PORT.
	r.cmdline = strings.NewReplacer(dir, "$DIR", strconv.Itoa(port), "$PORT").Replace("zedr-run " + shellJoin(args))

	z, err := startZedr(zedrRun, dir, args)
	if err != nil {
		r.err = err
		return r
	}
	defer z.stop()
	defer func() {
		if r.err != nil {
			r.log = z.tail(30)
		}
	}()
	if err := z.waitLog(`msg="generation ready" gen=1 `); err != nil {
		r.err = err
		return r
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := s.load(addr)
	if err != nil {
		r.err = err
		return r
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			r.requests, r.failures, r.examples = l.stop()
		}
	}
	defer stopLoad()
	if err := progress(l, 200); err != nil {
		r.err = err
		return r
	}
	var took time.Duration
	for i := 1; i <= n; i++ {
		t0 := time.Now()
		z.signal(syscall.SIGUSR2)
		if err := z.waitLog(fmt.Sprintf(`msg="generation ready" gen=%d `, i+1)); err != nil {
			r.err = err
			return r
		}
		if err := z.waitLog(fmt.Sprintf(`msg="generation exited" gen=%d `, i)); err != nil {
			r.err = err
			return r
		}
		took += time.Since(t0)
		if err := progress(l, 100); err != nil {
			r.err = err
			return r
		}
	}
	stopLoad()
	r.restart = took / time.Duration(max(n, 1))
	r.killed = z.count(`msg="stop timeout: killing`)
	if n := z.count(`msg="bind not intercepted"`); n > 0 {
		r.err = fmt.Errorf("%d binds not intercepted: the --listen addresses do not match what the server binds", n)
	}
	return r
}

// progress waits until l has made n more requests.
func progress(l load, n int) error {
	start := l.done()
	deadline := time.Now().Add(waitLimit)
	for l.done() < start+n {
		if time.Now().After(deadline) {
			return fmt.Errorf("the load made %d of %d requests in %s", l.done()-start, n, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// load is a bounded load against a server, of whatever protocol it speaks.
type load interface {
	done() int // requests made so far
	stop() (requests int, failures map[string]int, examples []string)
}

const httpClients = 32

type httpLoad struct{ l *loadgen.Load }

func (h httpLoad) done() int { return h.l.Snapshot().Requests }
func (h httpLoad) stop() (int, map[string]int, []string) {
	res := h.l.Stop()
	return res.Requests, res.Failures, res.Errors
}

// loadHTTP requests path over a new connection each time, so that a moment
// with nobody accepting shows as refused connections.
func loadHTTP(path string) func(addr string) (load, error) {
	return func(addr string) (load, error) {
		l, err := loadgen.Start(context.Background(), loadgen.Config{Addr: addr, Path: path, Concurrency: httpClients,
			MaxRequests: 10_000_000, Duration: 10 * time.Minute, Timeout: 20 * time.Second})
		if err != nil {
			return nil, err
		}
		return httpLoad{l}, nil
	}
}

func freePort() (int, error) {
	// A port free for both TCP and UDP (the DNS servers bind both).
	for range 100 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp4", l.Addr().String())
		l.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port free for both TCP and UDP")
}

// shellJoin quotes args as a POSIX shell would need them.
func shellJoin(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

// zedr is a running zedr-run and the log it wrote so far.
type zedr struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string // zedr-run's own lines (msg=...)
	rest []string // the last lines of the servers' own output
	more chan struct{}
	done chan struct{}
}

func startZedr(bin, dir string, args []string) (*zedr, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	z := &zedr{cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go z.read(out)
	return z, nil
}

func (z *zedr) read(r io.Reader) {
	defer close(z.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		z.mu.Lock()
		if strings.Contains(line, ` msg=`) {
			z.log = append(z.log, line)
		} else {
			z.rest = append(z.rest, line)
			if len(z.rest) > 100 {
				z.rest = z.rest[50:]
			}
		}
		z.mu.Unlock()
		select {
		case z.more <- struct{}{}:
		default:
		}
	}
}

func (z *zedr) count(re string) int {
	rx := regexp.MustCompile(re)
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, l := range z.log {
		if rx.MatchString(l) {
			n++
		}
	}
	return n
}

// waitLog waits for a line of zedr-run's log that matches re.
func (z *zedr) waitLog(re string) error {
	deadline := time.After(waitLimit)
	for {
		if z.count(re) > 0 {
			return nil
		}
		select {
		case <-z.more:
		case <-z.done:
			if z.count(re) > 0 {
				return nil
			}
			return fmt.Errorf("zedr-run ended before logging %s", re)
		case <-deadline:
			return fmt.Errorf("no log line %s in %s", re, waitLimit)
		}
	}
}

func (z *zedr) tail(n int) string {
	z.mu.Lock()
	defer z.mu.Unlock()
	all := append(append([]string{}, z.rest...), z.log...)
	return strings.Join(all[max(0, len(all)-n):], "\n")
}

func (z *zedr) signal(sig syscall.Signal) { z.cmd.Process.Signal(sig) }

// stop stops zedr-run with SIGTERM (it stops its server with the stop
// signal), and kills it if it has not exited in waitLimit.
func (z *zedr) stop() {
	z.signal(syscall.SIGTERM)
	select {
	case <-z.done:
	case <-time.After(waitLimit):
		z.cmd.Process.Kill()
	}
	z.cmd.Wait()
}
