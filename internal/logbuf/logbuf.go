// Package logbuf keeps a log that nobody reads from stopping the program
// that writes it.
//
// zedr-run logs to its stderr, often a pipe (`zedr-run ... 2>&1 | logger`,
// a container runtime, a terminal). When the reader stops reading, the pipe
// fills and a plain write blocks: the supervisor would stop supervising.
// A Writer puts a bounded queue in front of the output instead:
//
//   - Write never blocks. It queues the line for a goroutine that writes it
//     out, in order; when the queue is full, the line is dropped and counted
//     (Dropped).
//   - Once the output takes lines again and the queue has drained, the
//     Writer reports how many lines were lost since the last report, through
//     the function given to OnDrop (zedr-run logs "dropped N log lines").
//   - Flush and Close wait for the queue to be written, each for a bounded
//     time, so that an output that never drains cannot hang an exit either.
//
// A line is one Write: log/slog's handlers write each record, newline
// included, with one call, so a record is queued or dropped whole.
package logbuf

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSize is how many bytes of log lines a Writer queues: a burst of a
// few thousand lines (hundreds of workers crashing at once) waits for a slow
// reader; more is dropped rather than held, at most this much memory.
const DefaultSize = 256 << 10

// ErrTimeout is what Flush and Close return when the output did not take
// the queued lines in time.
var ErrTimeout = errors.New("log output blocked: queued lines not written")

// Writer is an io.Writer that queues lines for a goroutine writing them to
// the output. Its methods may be called from any goroutine.
type Writer struct {
	out  io.Writer
	size int

	dropped atomic.Uint64 // lines dropped because the queue was full, ever

	mu       sync.Mutex
	queue    []item
	queued   int            // bytes in queue
	report   func(n uint64) // see OnDrop
	reported uint64         // dropped lines already reported (writer goroutine only)

	wake      chan struct{} // a line was queued (capacity 1)
	quit      chan struct{} // Close was called
	done      chan struct{} // the writer goroutine has ended
	closeOnce sync.Once
}

// item is a queued line, or a flush marker to close once everything queued
// before it is written.
type item struct {
	line    []byte
	flushed chan struct{}
}

// New returns a Writer that queues up to size bytes of lines for out (size
// <= 0 means DefaultSize) and starts the goroutine that writes them.
func New(out io.Writer, size int) *Writer {
	if size <= 0 {
		size = DefaultSize
	}
	w := &Writer{out: out, size: size, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// OnDrop sets how lost lines are reported: report(n) is called with the
// number of lines dropped since the last report, from the writer goroutine,
// after a line was written and the queue is empty. It may write to w (a
// logger writing to w is the usual report). Without it, the Writer writes
// "dropped N log lines" itself.
func (w *Writer) OnDrop(report func(n uint64)) {
	w.mu.Lock()
	w.report = report
	w.mu.Unlock()
}

// Dropped is how many lines were dropped, since New, because the queue was
// full.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Write queues p as one line, or drops it when the queue is full. It never
// blocks on the output and always reports success: a log line is never
// worth stopping the caller for.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.queued+len(p) > w.size {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	w.queue = append(w.queue, item{line: append([]byte(nil), p...)})
	w.queued += len(p)
	w.mu.Unlock()
	w.signal()
	return len(p), nil
}

// Flush waits up to timeout for every line queued so far to be written.
func (w *Writer) Flush(timeout time.Duration) error {
	flushed := make(chan struct{})
	w.mu.Lock()
	w.queue = append(w.queue, item{flushed: flushed})
	w.mu.Unlock()
	w.signal()
	return wait(flushed, timeout)
}

// Close waits up to timeout for the queued lines, and the report of any
// dropped ones, to be written, and stops the writer goroutine once they
// are. Lines written after Close may be lost.
func (w *Writer) Close(timeout time.Duration) error {
	w.closeOnce.Do(func() { close(w.quit) })
	return wait(w.done, timeout)
}

func wait(c <-chan struct{}, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c:
		return nil
	case <-t.C:
		return fmt.Errorf("%w within %v", ErrTimeout, timeout)
	}
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes the queued lines until Close, then what is left.
func (w *Writer) run() {
	defer close(w.done)
	for {
		it, ok := w.next()
		if !ok {
			return
		}
		if it.flushed != nil {
			close(it.flushed)
			continue
		}
		_, err := w.out.Write(it.line)
		w.mu.Lock()
		w.queued -= len(it.line)
		empty := len(w.queue) == 0
		report := w.report
		w.mu.Unlock()
		if err == nil && empty {
			w.reportDrops(report)
		}
	}
}

// next waits for the next item; false once Close was called and nothing is
// left, not even a report.
func (w *Writer) next() (item, bool) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			it := w.queue[0]
			w.queue[0] = item{}
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return it, true
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-w.quit:
			w.mu.Lock()
			left := len(w.queue)
			w.mu.Unlock()
			if left == 0 {
				return item{}, false
			}
		}
	}
}

// reportDrops reports the lines dropped since the last report, if any. The
// report itself is queued like any line (and is dropped, and counted, if
// the queue filled meanwhile).
func (w *Writer) reportDrops(report func(uint64)) {
	total := w.dropped.Load()
	n := total - w.reported
	if n == 0 {
		return
	}
	w.reported = total
	if report != nil {
		report(n)
		return
	}
	w.Write(fmt.Appendf(nil, "dropped %d log lines\n", n))
}
