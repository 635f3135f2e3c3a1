package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Guarantee: a server that follows the handover protocol keeps its
// connections and its state across restarts (examples/keepconn).

// TestConnectionsSurviveRestarts: 20 clients keep one connection each to
// examples/keepconn and send requests on it without pause (INCR, ECHO,
// INCR per batch, each batch written in two pieces cut at a varying place,
// so that requests are often half-sent when a restart comes), while the
// service is restarted 20 times. A 21st connection leaves half a request
// in the server before each restart and completes it after. Every
// connection stays open and is served by the last generation at the end,
// every request gets its answer (the INCRs of a client see the counter
// grow, the ECHOs their own text), and the counter equals the number of
// INCRs answered.
func TestConnectionsSurviveRestarts(t *testing.T) {
	const clients, restarts = 20, 20
	ctl := filepath.Join(t.TempDir(), "control.sock")
	z := startZedr(t, "--control", ctl, "--listen", "tcp:127.0.0.1:0,name=web", "--ready", "notify", "--", bin("keepconn"))
	z.readyPID(1)

	var incrs, requests atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	conns := make([]*lineConn, clients)
	failures := make([]error, clients)
	for i := range conns {
		conns[i] = dialLine(t, z.addr)
	}
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failures[i] = c.loop(i, stop, &incrs, &requests)
		}()
	}
	partial := dialLine(t, z.addr)

	handedBytes := regexp.MustCompile(`handed over: conns=\d+ unread_bytes=(\d+)`)
	for r := 1; r <= restarts; r++ {
		text := fmt.Sprintf("part-%d", r)
		partial.write(t, "ECHO "+text[:3])
		out, err := exec.Command(bin("zedr-run"), "restart", "--wait", "--control", ctl).CombinedOutput()
		if err != nil {
			t.Fatalf("restart %d: %v: %s", r, err, out)
		}
		partial.write(t, text[3:]+"\n")
		if got := partial.read(t); got != text {
			t.Fatalf("restart %d: the request cut by it was answered %q, want %q", r, got, text)
		}
		// Under load: the clients go on between restarts.
		waitCount(t, &requests, requests.Load()+clients)
	}
	close(stop)
	wg.Wait()

	closed := 0
	for i, err := range failures {
		if err != nil {
			closed++
			t.Errorf("client %d: %v", i, err)
		}
	}
	last := strconv.Itoa(restarts + 1)
	for i, c := range append(conns, partial) {
		c.write(t, "GEN\n")
		if got := c.read(t); got != last {
			t.Errorf("connection %d is answered by generation %s, want %s", i, got, last)
		}
	}
	check := dialLine(t, z.addr)
	check.write(t, "GET\n")
	counter := check.read(t)
	if counter != strconv.FormatInt(incrs.Load(), 10) {
		t.Errorf("counter=%s after %d INCRs answered: the state was not kept", counter, incrs.Load())
	}
	if n := z.countLog(fmt.Sprintf(`keepconn gen=\d+ serving: took_over=%d `, clients+1)); n != restarts {
		t.Errorf("%d generations took over %d connections, want %d", n, clients+1, restarts)
	}
	if n := z.countLog(`WARNING: DATA RACE|generation exited" gen=\d+ .*status="exit status [^0]`); n != 0 {
		t.Errorf("%d generations reported a data race or exited with a failure", n)
	}
	unread := 0
	for _, m := range handedBytes.FindAllStringSubmatch(z.log(), -1) {
		n, _ := strconv.Atoi(m[1])
		unread += n
	}
	// A client that failed left its last request unanswered or closed.
	t.Logf("%d restarts, %d connections: %d closed or failed, %d requests answered (%d INCRs, counter=%s); %d unread bytes handed over",
		restarts, clients+1, closed, requests.Load()+int64(restarts), incrs.Load(), counter, unread)
}

// lineConn is one client connection of the line protocol.
type lineConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialLine(t *testing.T, addr string) *lineConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &lineConn{c: c, r: bufio.NewReader(c)}
}

func (l *lineConn) write(t *testing.T, s string) {
	t.Helper()
	l.c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := l.c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func (l *lineConn) read(t *testing.T) string {
	t.Helper()
	l.c.SetDeadline(time.Now().Add(waitLimit))
	line, err := l.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read %q: %v", line, err)
	}
	return strings.TrimSuffix(line, "\n")
}

// batchPause paces each client: 20 clients sending without pause would
// keep a small machine's cores busy and slow the restarts under test (and
// the other tests running beside it) for nothing.
const batchPause = time.Millisecond

// loop sends batches until stop and checks every answer; it returns why
// it ended early (the connection closed, an answer missing or wrong).
func (l *lineConn) loop(id int, stop <-chan struct{}, incrs, requests *atomic.Int64) error {
	last := int64(0)
	for n := 0; ; n++ {
		select {
		case <-stop:
			return nil
		case <-time.After(batchPause):
		}
		echo := fmt.Sprintf("c%d-%d", id, n)
		batch := "INCR\nECHO " + echo + "\nINCR\n"
		cut := 1 + n%(len(batch)-1)
		l.c.SetDeadline(time.Now().Add(waitLimit))
		for _, piece := range []string{batch[:cut], batch[cut:]} {
			if _, err := l.c.Write([]byte(piece)); err != nil {
				return fmt.Errorf("batch %d: write: %w", n, err)
			}
		}
		for _, want := range []string{"INCR", echo, "INCR"} {
			line, err := l.r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("batch %d: no answer to %s: %w", n, want, err)
			}
			got := strings.TrimSuffix(line, "\n")
			if want != "INCR" {
				if got != want {
					return fmt.Errorf("batch %d: ECHO answered %q, want %q", n, got, want)
				}
			} else if v, err := strconv.ParseInt(got, 10, 64); err != nil || v <= last {
				return fmt.Errorf("batch %d: INCR answered %q after %d", n, got, last)
			} else {
				last = v
				incrs.Add(1)
			}
			requests.Add(1)
		}
	}
}

// waitCount waits until n reaches at least want.
func waitCount(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the clients made no progress: %d requests, want %d", n.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// brokenTakeover stands for a new version that takes everything over and
// dies before it is ready: it speaks keepconn's handover (remove the
// stored end, TAKEOVER, receive until DONE) and exits 3. Preceded by
// "early = True", it exits 3 right after removing the stored end.
const brokenTakeover = `
import os, socket, sys
early = globals().get("early", False)
names = os.environ["LISTEN_FDNAMES"].split(":")
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.connect(addr)
ns.send(b"FDSTOREREMOVE=1\nFDNAME=handover")
if early:
    print("broken: removed the handover socket, exiting", file=sys.stderr, flush=True)
    sys.exit(3)
h = socket.socket(fileno=3 + names.index("handover"))
h.send(b"TAKEOVER")
taken = []
while True:
    msg, fds, _, _ = socket.recv_fds(h, 64, 1)
    taken += fds
    if msg == b"DONE":
        break
print("broken: took over %d connections, exiting" % len(taken), file=sys.stderr, flush=True)
sys.exit(3)
`

// TestTakeoverByBrokenGeneration: a new version that takes the connections
// over and then dies before it is ready is rolled back; the old
// generation, which had handed everything over, accepts and serves again
// with its counter, and leaves a new handover socket, so that the next
// restart takes over from it. A new version that takes the old one's
// handover socket out of the store and dies before it asks is rolled back
// too; the old generation leaves a new one, and the next restart takes
// over from it.
func TestTakeoverByBrokenGeneration(t *testing.T) {
	python := needTool(t, "/usr/bin/python3")
	dir := t.TempDir()
	serve := filepath.Join(dir, "serve")
	good := []byte("#!/bin/sh\nexec " + bin("keepconn") + "\n")
	writeFile(t, serve, good, 0o755)
	ctl := filepath.Join(dir, "control.sock")
	z := startZedr(t, "--control", ctl, "--no-watch", "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--", serve)
	z.readyPID(1)
	handed := dialLine(t, z.addr)
	handed.write(t, "INCR\n")
	if got := handed.read(t); got != "1" {
		t.Fatalf("INCR answered %q, want 1", got)
	}

	renameInto(t, serve, []byte("#!"+python+"\n"+brokenTakeover), 0o755)
	out, err := exec.Command(bin("zedr-run"), "restart", "--wait", "--control", ctl).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "rolled back") {
		t.Fatalf("restart onto the broken version: %v: %s; want a rollback", err, out)
	}
	z.waitLog(`broken: took over 1 connections, exiting`)
	z.waitLog(`keepconn gen=1 serving again: the generation that took over is gone; counter=1$`)
	handed.c.SetDeadline(time.Now().Add(waitLimit))
	if line, err := handed.r.ReadString('\n'); err == nil {
		t.Errorf("the connection the broken version took still answers %q", line)
	}

	c := dialLine(t, z.addr)
	for _, req := range []struct{ send, want string }{{"INCR", "2"}, {"GEN", "1"}} {
		c.write(t, req.send+"\n")
		if got := c.read(t); got != req.want {
			t.Fatalf("after the rollback %s answered %q, want %q", req.send, got, req.want)
		}
	}

	renameInto(t, serve, []byte("#!"+python+"\nearly = True\n"+brokenTakeover), 0o755)
	out, err = exec.Command(bin("zedr-run"), "restart", "--wait", "--control", ctl).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "rolled back") {
		t.Fatalf("restart onto the version that dies before asking: %v: %s; want a rollback", err, out)
	}
	z.waitLog(`broken: removed the handover socket, exiting`)
	z.waitLog(`keepconn gen=1: the next generation left before asking`)

	renameInto(t, serve, good, 0o755)
	if out, err := exec.Command(bin("zedr-run"), "restart", "--wait", "--control", ctl).CombinedOutput(); err != nil {
		t.Fatalf("restart onto the good version: %v: %s", err, out)
	}
	z.waitLog(`keepconn gen=4 serving: took_over=1 unread_bytes=0 counter=2$`)
	for _, req := range []struct{ send, want string }{{"INCR", "3"}, {"GEN", "4"}} {
		c.write(t, req.send+"\n")
		if got := c.read(t); got != req.want {
			t.Fatalf("after the next restart %s answered %q, want %q", req.send, got, req.want)
		}
	}
	t.Logf("the broken version took 1 connection and died; generation 1 served again (counter 2); one died before asking; generation 4 took the connection over (counter 3)")
}
