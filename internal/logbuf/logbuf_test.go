package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate is an output that blocks every write until it is opened, as a pipe
// nobody reads does.
type gate struct {
	open chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gate) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// TestBlockedOutput: with the output blocked, Write returns at once and
// drops what does not fit; once the output drains, the queued lines come
// out whole and in order, then the count of the dropped ones.
func TestBlockedOutput(t *testing.T) {
	out := newGate()
	w := New(out, 1000)
	const lines = 100
	for i := range lines {
		fmt.Fprintf(w, "line %03d %s\n", i, strings.Repeat("x", 40)) // 50 bytes: 20 fit
	}
	dropped := w.Dropped()
	if dropped == 0 || dropped >= lines {
		t.Fatalf("dropped %d of %d lines with a queue of 1000 bytes", dropped, lines)
	}
	close(out.open)
	if err := w.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	kept := lines - int(dropped)
	if len(got) != kept+1 {
		t.Fatalf("got %d lines, want %d kept and a report:\n%s", len(got), kept, out.String())
	}
	for i, l := range got[:kept] {
		// The first line may have been taken by the writer before the
		// output blocked it; either way lines are whole and in order.
		if want := fmt.Sprintf("line %03d ", i); !strings.HasPrefix(l, want) || len(l) != 49 {
			t.Fatalf("line %d is %q, want it to start with %q", i, l, want)
		}
	}
	if want := fmt.Sprintf("dropped %d log lines", dropped); got[kept] != want {
		t.Errorf("last line %q, want %q", got[kept], want)
	}
}

// TestReportThroughLogger: the report goes through OnDrop, which may write
// to the Writer itself, as a logger does.
func TestReportThroughLogger(t *testing.T) {
	out := newGate()
	w := New(out, 100)
	var reports []uint64
	w.OnDrop(func(n uint64) {
		reports = append(reports, n)
		fmt.Fprintf(w, "level=WARN msg=\"dropped %d log lines\"\n", n)
	})
	for range 10 {
		w.Write([]byte(strings.Repeat("y", 29) + "\n")) // 30 bytes: 3 fit
	}
	close(out.open)
	if err := w.Close(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || reports[0] != 7 || w.Dropped() != 7 {
		t.Fatalf("reports %v, Dropped %d; want one report of 7", reports, w.Dropped())
	}
	if !strings.HasSuffix(out.String(), "level=WARN msg=\"dropped 7 log lines\"\n") {
		t.Errorf("output does not end with the report:\n%s", out.String())
	}
}

// TestCloseBounded: Close and Flush give up after their timeout when the
// output never drains, so that an exit cannot hang on it.
func TestCloseBounded(t *testing.T) {
	out := newGate()
	defer close(out.open)
	w := New(out, 0)
	w.Write([]byte("stuck\n"))
	if err := w.Flush(10 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("Flush with the output blocked: %v, want ErrTimeout", err)
	}
	if err := w.Close(10 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("Close with the output blocked: %v, want ErrTimeout", err)
	}
}

// TestFlush: Flush returns once everything written before it is out.
func TestFlush(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	w := New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), 0)
	for i := range 50 {
		fmt.Fprintf(w, "%d\n", i)
	}
	if err := w.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(buf.String(), "\n"); n != 50 {
		t.Errorf("after Flush %d lines out, want 50", n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
