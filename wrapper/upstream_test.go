package wrapper

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// outerManager is a service manager's NOTIFY_SOCKET, read as systemd reads
// it: one datagram a message.
type outerManager struct {
	t    *testing.T
	conn *net.UnixConn
	path string
}

func newOuterManager(t *testing.T) *outerManager {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &outerManager{t: t, conn: conn, path: path}
}

// messages returns the messages sent so far (the loop writes them inline,
// so they are queued by the time handle returns), each as its lines.
func (o *outerManager) messages() [][]string {
	o.t.Helper()
	var out [][]string
	buf := make([]byte, 4096)
	for {
		o.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := o.conn.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, strings.Split(strings.TrimSpace(string(buf[:n])), "\n"))
	}
}

// until reads messages until done says so of one, within 10 s; the error
// is the socket's (a timeout when none came).
func (o *outerManager) until(done func(msg string) bool) error {
	o.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		n, err := o.conn.Read(buf)
		if err != nil {
			return err
		}
		if done(string(buf[:n])) {
			return nil
		}
	}
}

// kinds lists, for each message, its first line that is not STATUS=, and
// whether it carried MONOTONIC_USEC= and ERRNO=.
func kinds(msgs [][]string) []string {
	var out []string
	for _, m := range msgs {
		k := ""
		for _, l := range m {
			switch {
			case strings.HasPrefix(l, "STATUS="):
			case strings.HasPrefix(l, "MONOTONIC_USEC="):
				k += "+MONOTONIC_USEC"
			case strings.HasPrefix(l, "ERRNO="):
				k += "+" + l
			default:
				k = l + k
			}
		}
		if k == "" {
			k = "STATUS"
		}
		out = append(out, k)
	}
	return out
}

func field(msg []string, key string) string {
	for _, l := range msg {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	return ""
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}

// TestReloadToldToServiceManager: a restart is a reload to the service
// manager (Type=notify-reload): RELOADING=1 with the CLOCK_MONOTONIC time it
// began, then READY=1; a rollback ends it with READY=1 and the cause's
// ERRNO=, which the next success clears with ERRNO=0.
func TestReloadToldToServiceManager(t *testing.T) {
	o := newOuterManager(t)
	m := newMachine(t, Config{OuterNotify: o.path})
	m.serve(1)
	if got := kinds(o.messages()); strings.Join(got, " ") != "STATUS READY=1" {
		t.Fatalf("first start: %q, want a STATUS= and READY=1", got)
	}

	before := monotonicUsec()
	m.restart("test")
	after := monotonicUsec()
	msgs := o.messages()
	if got := kinds(msgs); strings.Join(got, " ") != "RELOADING=1+MONOTONIC_USEC" {
		t.Fatalf("restart began: %q, want RELOADING=1 with MONOTONIC_USEC=", got)
	}
	if us, err := strconv.ParseInt(field(msgs[0], "MONOTONIC_USEC"), 10, 64); err != nil || us < before || us > after {
		t.Errorf("MONOTONIC_USEC=%s, want CLOCK_MONOTONIC in µs between %d and %d", field(msgs[0], "MONOTONIC_USEC"), before, after)
	}
	m.serve(2)
	if got := kinds(o.messages()); strings.Join(got, " ") != "READY=1" {
		t.Fatalf("restart done: %q, want READY=1", got)
	}

	for _, c := range []struct {
		how   string
		errno unix.Errno
		fail  func(w *worker, pid int)
	}{
		{"exits", unix.ESRCH, func(w *worker, pid int) { m.s.handle(execEvent{w: w}); m.exit(pid, 1) }},
		{"not ready in time", unix.ETIMEDOUT, func(w *worker, pid int) {
			m.s.handle(execEvent{w: w})
			m.fire("ready timeout", isTimer(timerReadyTimeout))
		}},
		{"cannot exec", unix.ENOEXEC, func(w *worker, pid int) {
			// The shim reports its exec's failure as a message.
			m.s.handle(execEvent{w: w, err: &StartError{"server", errors.New("exec /srv/app: no such file or directory")}})
		}},
		{"cannot fork", unix.EAGAIN, func(w *worker, pid int) {
			m.s.handle(execEvent{w: w, err: &StartError{"server", unix.EAGAIN}})
		}},
	} {
		m.restart(c.how)
		n := m.s.nextGen - 1
		pid := m.started(n)[0]
		c.fail(m.fx.procs[pid].w, pid)
		msgs := o.messages()
		want := "RELOADING=1+MONOTONIC_USEC READY=1+ERRNO=" + strconv.Itoa(int(c.errno))
		if got := kinds(msgs); strings.Join(got, " ") != want {
			t.Fatalf("%s: %q, want %q", c.how, got, want)
		}
		if st := field(msgs[1], "STATUS"); !strings.HasPrefix(st, "serving: generation 2; generation "+strconv.Itoa(n)) {
			t.Errorf("%s: STATUS=%s does not say what serves and what failed", c.how, st)
		}
	}
	m.restart("test")
	m.serve(m.s.nextGen - 1)
	if got := kinds(o.messages()); strings.Join(got, " ") != "RELOADING=1+MONOTONIC_USEC READY=1+ERRNO=0" {
		t.Fatalf("a success after a failure: %q, want ERRNO=0 with its READY=1", got)
	}
}

// TestReloadQueuedAnswersItsOwnSignal: a restart requested while another
// runs (systemd's ReloadSignal= during a restart) gets a RELOADING=1 of its
// own, stamped after the request, once it begins: systemd ignores a
// RELOADING=1 older than its signal.
func TestReloadQueuedAnswersItsOwnSignal(t *testing.T) {
	o := newOuterManager(t)
	m := newMachine(t, Config{OuterNotify: o.path})
	m.serve(1)
	m.restart("first")
	o.messages()
	before := monotonicUsec()
	m.restart("queued") // coalesced behind generation 2
	if got := o.messages(); len(got) != 0 {
		t.Fatalf("a queued restart sent %q", got)
	}
	m.serve(2)
	msgs := o.messages()
	if got := kinds(msgs); strings.Join(got, " ") != "READY=1 RELOADING=1+MONOTONIC_USEC" {
		t.Fatalf("after generation 2: %q, want READY=1, then the queued restart's RELOADING=1", got)
	}
	if us, _ := strconv.ParseInt(field(msgs[1], "MONOTONIC_USEC"), 10, 64); us < before {
		t.Errorf("the queued restart's MONOTONIC_USEC=%d is before it was requested (%d)", us, before)
	}
	m.serve(3)
	if got := kinds(o.messages()); strings.Join(got, " ") != "READY=1" {
		t.Fatalf("queued restart done: %q, want READY=1", got)
	}
}

// TestBarrierAnswered: BARRIER=1 with a pipe's write end (sd_notify_barrier(3))
// is answered by closing it once handled, with no warning about a message
// with descriptors and no FDSTORE=1.
func TestBarrierAnswered(t *testing.T) {
	m := newMachine(t, Config{})
	var logged strings.Builder
	m.s.log = slog.New(slog.NewTextHandler(&logged, nil))
	m.serve(1)
	pid := m.started(1)[0]
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	m.s.handle(notifyMessage{pid: pid, fields: map[string]string{"BARRIER": "1"}, fds: []*os.File{os.NewFile(uintptr(p[1]), "barrier")}})
	fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 0); err != nil || n != 1 || fds[0].Revents&unix.POLLHUP == 0 {
		t.Errorf("the barrier's pipe is still open after its message was handled (poll %d %v %#x)", n, err, fds[0].Revents)
	}
	if strings.Contains(logged.String(), "level=WARN") {
		t.Errorf("BARRIER=1 logged a warning:\n%s", logged.String())
	}
}

// TestCrashReplacementIsNoReload: with several workers, replacing a crashed
// one while the others serve is no reload: STATUS= only, then READY=1.
func TestCrashReplacementIsNoReload(t *testing.T) {
	o := newOuterManager(t)
	m := newMachine(t, Config{OuterNotify: o.path, Workers: 2})
	m.serve(1)
	o.messages()
	m.exit(m.started(1)[0], 1)
	m.fire("backoff", func(ev event) bool { _, ok := ev.(backoffEvent); return ok })
	m.serve(2)
	if got := kinds(o.messages()); slices.Contains(got, "RELOADING=1+MONOTONIC_USEC") || got[len(got)-1] != "READY=1" {
		t.Fatalf("a crashed worker replaced: %q, want no RELOADING=1 and a READY=1", got)
	}
}
