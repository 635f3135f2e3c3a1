package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultSettle is how long a watched file must stay unchanged before its change counts.
//
// One second rides out the pauses of ordinary deployments (scp or rsync over a slow link, a build
// writing its output in steps, cp then chmod, a burst of saves) while adding no restart latency
// anyone notices after a deploy. For ELF binaries the completeness check also guards against
// longer pauses; for scripts and config files the settle time is the only guard, so it errs on
// the long side rather than the 100 ms that suits an editor's save.
const DefaultSettle = time.Second

// maxResolvePasses bounds how often a resync resolves the paths again because the directories to
// watch moved while watches were being added.
const maxResolvePasses = 4

// Options configures a Watcher.
type Options struct {
	Paths  []string      // files or directories to watch; relative paths are relative to the working directory at New
	Settle time.Duration // 0 means DefaultSettle
	Logger *slog.Logger  // nil means slog.Default(); warnings (file deleted, not replaced) carry path=...
}

// Change is one settled content change of a watched path.
type Change struct {
	Path     string // the path as given in Options.Paths
	Resolved string // where it pointed when the change was seen; for a directory, the first changed file in it
	// OldSize and NewSize are the sizes before and after; -1 when the file was (or is now, a file
	// removed from a watched directory) missing.
	OldSize, NewSize int64
	// OldHash and NewHash are the first 12 hex digits of the SHA-256 of the content before and
	// after; "" when unknown (the file was missing).
	OldHash, NewHash string
	// Files, for a watched directory only, names the files directly in it that were added, removed
	// or changed, sorted; the sizes and hashes are those of Files[0]. It is nil for a file.
	Files []string
}

// String formats c for a log line, e.g.
//
//	/srv/app/server changed: size 1843200 -> 1843264, sha256 3fa2c9e1b0d4 -> 9be01c77a2f5
func (c Change) String() string {
	path := c.Path
	if len(c.Files) > 0 {
		path += " (" + strings.Join(c.Files, ", ") + ")"
	}
	return fmt.Sprintf("%s changed: size %s -> %s, sha256 %s -> %s",
		path, sizeString(c.OldSize), sizeString(c.NewSize), hashString(c.OldHash), hashString(c.NewHash))
}

func sizeString(n int64) string {
	if n < 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

func hashString(h string) string {
	if h == "" {
		return "none"
	}
	return h
}

// Watcher watches paths for settled content changes. Create it with New, then call Run once.
type Watcher struct {
	settle  time.Duration
	log     *slog.Logger
	fsw     *fsnotify.Watcher
	targets []*target
	running atomic.Bool

	// The index from fsnotify events to targets, rebuilt by resync.
	byName  map[string]map[string][]*target // directory -> name looked up in it -> targets
	byDir   map[string][]*target            // directory -> directory targets (any name in it counts)
	watched map[string]bool                 // directories that should be watched
	blind   map[string]bool                 // directories that could not be watched, warned about once
}

// New resolves opts.Paths, watches the directories they lead through, and records their current
// content as the baseline. It fails if fsnotify cannot start (e.g. inotify limits), if a path's
// directory does not exist, or if that directory cannot be watched.
func New(opts Options) (*Watcher, error) {
	if len(opts.Paths) == 0 {
		return nil, errors.New("watch: no paths to watch")
	}
	w := &Watcher{settle: opts.Settle, log: opts.Logger}
	if w.settle <= 0 {
		w.settle = DefaultSettle
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	for _, p := range opts.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", p, err)
		}
		t := &target{given: p, abs: abs}
		if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
			t.isDir = true
		}
		w.targets = append(w.targets, t)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: start fsnotify: %w", err)
	}
	w.fsw = fsw
	now := time.Now()
	errs := w.resync(now)
	for _, t := range w.targets {
		if t.resErr != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: %w", t.given, t.resErr)
		}
		dir := filepath.Dir(t.res.final)
		if t.isDir {
			dir = t.res.final
		}
		if err := errs[dir]; err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: watch directory %s: %w", t.given, dir, err)
		}
	}
	for _, t := range w.targets {
		t.baseline(w.log)
		t.dirty = false
	}
	return w, nil
}

// Run watches until ctx is done, sending one Change per settled content change; it returns nil
// then. It blocks while changes is not read (the kernel queues events meanwhile). It closes the
// fsnotify watcher before it returns, whatever the reason. It may be called once.
func (w *Watcher) Run(ctx context.Context, changes chan<- Change) error {
	if w.running.Swap(true) {
		return errors.New("watch: Run called more than once")
	}
	defer w.fsw.Close()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var timerC <-chan time.Time
	for {
		timerC = w.arm(timer)
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return w.closedErr(ctx)
			}
			w.handle(ev, time.Now())
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return w.closedErr(ctx)
			}
			w.handleError(err, time.Now())
		case <-timerC:
			for _, c := range w.settleDue(time.Now()) {
				select {
				case changes <- c:
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
}

// Close releases the fsnotify watcher of a Watcher whose Run is never called; Run releases it
// itself. Closing while Run runs makes Run return an error.
func (w *Watcher) Close() error {
	return w.fsw.Close()
}

func (w *Watcher) closedErr(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("watch: fsnotify watcher closed")
}

// arm sets timer to the earliest settle deadline and returns its channel, or nil if nothing is
// pending.
func (w *Watcher) arm(timer *time.Timer) <-chan time.Time {
	var next time.Time
	for _, t := range w.targets {
		if t.dirty && (next.IsZero() || t.deadline.Before(next)) {
			next = t.deadline
		}
	}
	if next.IsZero() {
		timer.Stop()
		return nil
	}
	timer.Reset(time.Until(next))
	return timer.C
}

// handle marks the targets an fsnotify event may concern as changing, and follows the paths
// again if a name was created, removed or renamed.
func (w *Watcher) handle(ev fsnotify.Event, now time.Time) {
	name := filepath.Clean(ev.Name)
	dir, base := filepath.Dir(name), filepath.Base(name)
	hit := w.byName[dir][base]
	if !strings.HasPrefix(base, ".") {
		hit = append(hit[:len(hit):len(hit)], w.byDir[dir]...)
	}
	structural := ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
	if structural && w.watched[name] {
		// A watched directory itself was removed or moved away; fsnotify dropped its watch.
		hit = w.targets
	}
	if len(hit) == 0 {
		return
	}
	if structural {
		w.resync(now)
	}
	for _, t := range hit {
		t.markDirty(now, w.settle)
	}
}

func (w *Watcher) handleError(err error, now time.Time) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.log.Warn("watch: events lost, checking every watched path", "err", err)
	} else {
		w.log.Warn("watch: fsnotify error, checking every watched path", "err", err)
	}
	w.resync(now)
	for _, t := range w.targets {
		t.markDirty(now, w.settle)
	}
}

// settleDue checks every target whose settle time is over and returns the changes found.
func (w *Watcher) settleDue(now time.Time) []Change {
	due := func(t *target) bool { return t.dirty && !t.deadline.After(now) }
	if !slices.ContainsFunc(w.targets, due) {
		return nil
	}
	w.resync(now) // cheap, and the paths are checked where they lead now
	var changes []Change
	for _, t := range w.targets {
		if !due(t) {
			continue
		}
		if c, ok := t.check(now, w.settle, w.log); ok {
			changes = append(changes, c)
		}
	}
	return changes
}

// resync resolves every path again, rebuilds the event index and makes the fsnotify watches match
// the directories the paths now lead through. A target whose path now leads elsewhere is marked
// changing. It returns the errors of the watches it could not add, by directory.
func (w *Watcher) resync(now time.Time) map[string]error {
	var errs map[string]error
	prev := ""
	for range maxResolvePasses {
		w.resolveAll(now)
		key := strings.Join(sortedKeys(w.watched), "\x00")
		if key == prev {
			break
		}
		errs = w.syncWatches()
		prev = key
	}
	return errs
}

func (w *Watcher) resolveAll(now time.Time) {
	w.byName = make(map[string]map[string][]*target)
	w.byDir = make(map[string][]*target)
	w.watched = make(map[string]bool)
	for _, t := range w.targets {
		if t.resolve() {
			t.markDirty(now, w.settle)
		}
		for dir, names := range t.res.lookups {
			w.watched[dir] = true
			m := w.byName[dir]
			if m == nil {
				m = make(map[string][]*target)
				w.byName[dir] = m
			}
			for name := range names {
				m[name] = append(m[name], t)
			}
		}
		if t.isDir && t.res.exists {
			w.watched[t.res.final] = true
			w.byDir[t.res.final] = append(w.byDir[t.res.final], t)
		}
	}
}

// syncWatches removes the fsnotify watches no longer needed and adds the missing ones. fsnotify's
// own list is the truth: it drops a watch by itself when the directory goes away.
func (w *Watcher) syncWatches() map[string]error {
	have := make(map[string]bool)
	for _, dir := range w.fsw.WatchList() {
		if !w.watched[dir] {
			_ = w.fsw.Remove(dir) // it may be gone already; either way it is not watched
			continue
		}
		have[dir] = true
	}
	errs := make(map[string]error)
	for _, dir := range sortedKeys(w.watched) {
		if have[dir] {
			continue
		}
		err := w.fsw.Add(dir)
		if err == nil {
			delete(w.blind, dir)
			continue
		}
		errs[dir] = err
		// A directory that vanished meanwhile is seen in its parent; anything else (no
		// permission, the inotify watch limit) leaves a blind spot.
		if !errors.Is(err, os.ErrNotExist) && !w.blind[dir] {
			if w.blind == nil {
				w.blind = make(map[string]bool)
			}
			w.blind[dir] = true
			w.log.Warn("watch: cannot watch directory", "dir", dir, "err", err)
		}
	}
	return errs
}
