package watch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// testSettle is short to keep the tests fast; tests that depend on a writer never pausing
	// longer than the settle time use more.
	testSettle = 200 * time.Millisecond
	// changeTimeout bounds every wait for an expected change.
	changeTimeout = 10 * time.Second
)

// harness runs a Watcher for one test.
type harness struct {
	t       *testing.T
	settle  time.Duration
	changes chan Change
	logs    chan slog.Record
}

// start creates a Watcher on paths and runs it until the test ends; New must succeed.
func start(t *testing.T, settle time.Duration, paths ...string) *harness {
	t.Helper()
	h := &harness{t: t, settle: settle, changes: make(chan Change), logs: make(chan slog.Record, 1000)}
	w, err := New(Options{Paths: paths, Settle: settle, Logger: slog.New(&recorder{t: t, ch: h.logs})})
	if err != nil {
		t.Fatalf("New(%q): %v", paths, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, h.changes) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(changeTimeout):
			t.Errorf("Run did not return %v after its context was cancelled", changeTimeout)
		}
	})
	return h
}

// next waits for the next change.
func (h *harness) next() Change {
	h.t.Helper()
	select {
	case c := <-h.changes:
		h.t.Logf("change: %v", c)
		return c
	case <-time.After(changeTimeout):
		h.t.Fatalf("no change within %v", changeTimeout)
		return Change{}
	}
}

// none asserts that no change comes within three settle times.
func (h *harness) none() {
	h.t.Helper()
	select {
	case c := <-h.changes:
		h.t.Fatalf("unexpected change: %v", c)
	case <-time.After(3 * h.settle):
	}
}

// one waits for a change and asserts that no second one follows.
func (h *harness) one() Change {
	h.t.Helper()
	c := h.next()
	h.none()
	return c
}

// waitLog waits for a log record at level whose message contains msg.
func (h *harness) waitLog(level slog.Level, msg string) slog.Record {
	h.t.Helper()
	deadline := time.After(changeTimeout)
	for {
		select {
		case r := <-h.logs:
			if r.Level == level && strings.Contains(r.Message, msg) {
				return r
			}
		case <-deadline:
			h.t.Fatalf("no %v log %q within %v", level, msg, changeTimeout)
		}
	}
}

// recorder is a slog.Handler that logs to the test and hands records to a channel.
type recorder struct {
	t  *testing.T
	ch chan slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	r.t.Logf("log %v %s%s", rec.Level, rec.Message, b.String())
	select {
	case r.ch <- rec.Clone():
	default:
	}
	return nil
}

func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

func hash12(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:hashPrefixLen]
}

func script(n int) []byte {
	return []byte("#!/bin/sh\necho version " + strings.Repeat("x", n) + "\n")
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// replace writes b next to path and renames it over path, as mv and rsync do.
func replace(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp."+filepath.Base(path))
	write(t, tmp, b)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// flip points the symlink link at target atomically, as ln -sfn does today (symlink + rename).
func flip(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + ".new"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

func wantChange(t *testing.T, c Change, path string, old, new []byte) {
	t.Helper()
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}
	if c.NewHash != hash12(new) || c.NewSize != int64(len(new)) {
		t.Errorf("new = %d %q, want %d %q", c.NewSize, c.NewHash, len(new), hash12(new))
	}
	if old == nil {
		if c.OldHash != "" || c.OldSize != -1 {
			t.Errorf("old = %d %q, want -1 \"\" (missing)", c.OldSize, c.OldHash)
		}
	} else if c.OldHash != hash12(old) || c.OldSize != int64(len(old)) {
		t.Errorf("old = %d %q, want %d %q", c.OldSize, c.OldHash, len(old), hash12(old))
	}
}

// selfELF returns the bytes of the running test binary: a real, complete ELF file.
var selfELF = sync.OnceValues(func() ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(exe)
})

func realELF(t *testing.T) []byte {
	t.Helper()
	b, err := selfELF()
	if err != nil {
		t.Fatal(err)
	}
	if elfIncomplete(bytesReaderAt(b), int64(len(b))) != "" {
		t.Fatal("the test binary does not look like a complete ELF file")
	}
	return b
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(b).ReadAt(p, off)
}
