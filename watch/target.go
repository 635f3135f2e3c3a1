package watch

import (
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// target is one path of Options.Paths and what is known of it. Only Run's goroutine (and New,
// before it) touches it.
type target struct {
	given string // as in Options.Paths
	abs   string
	isDir bool // a directory at New: any file directly in it counts

	res      resolution
	resErr   error // why the last resolve stopped early; the path counts as missing
	resolved bool  // res has been set once

	dirty    bool        // an event may have changed it; check at deadline
	deadline time.Time   // end of the settle time
	snap     fs.FileInfo // for a file: stat at the last event, to see it still changing at deadline

	file    fileState            // for a file: its last seen content
	files   map[string]fileState // for a directory: its files' last seen content, by name
	present bool                 // for a directory: it existed when last seen
}

// fileState is the last seen content of a file.
type fileState struct {
	exists   bool
	resolved string
	size     int64
	hash     string // full hex SHA-256
}

func (s fileState) sizeOrNone() int64 {
	if !s.exists {
		return -1
	}
	return s.size
}

// resolve follows the path again and reports whether it now leads somewhere else.
func (t *target) resolve() bool {
	old, wasResolved := t.res, t.resolved
	t.res, t.resErr = resolve(t.abs)
	t.resolved = true
	return wasResolved && (old.final != t.res.final || old.exists != t.res.exists)
}

func (t *target) markDirty(now time.Time, settle time.Duration) {
	t.dirty = true
	t.deadline = now.Add(settle)
	if !t.isDir {
		t.snap, _ = os.Stat(t.abs)
	}
}

func (t *target) rearm(now time.Time, settle time.Duration, snap fs.FileInfo) {
	t.deadline = now.Add(settle)
	t.snap = snap
}

// baseline records the content at New, complete or not, as the last seen.
func (t *target) baseline(log *slog.Logger) {
	if t.isDir {
		t.files, t.present, _ = t.readDir(false)
		return
	}
	if !t.res.exists {
		log.Info("watch: file does not exist yet", "path", t.given)
		return
	}
	if c, err := readContent(t.res.final); err == nil {
		t.file = fileState{exists: true, resolved: t.res.final, size: c.size, hash: c.hash}
	}
}

// check looks at a target whose settle time is over. It returns a Change if the content is
// complete and differs from the last seen; the target stays dirty, with a new deadline, if it is
// still changing.
func (t *target) check(now time.Time, settle time.Duration, log *slog.Logger) (Change, bool) {
	if t.isDir {
		return t.checkDir(now, settle, log)
	}
	if !t.res.exists {
		t.missing(log)
		return Change{}, false
	}
	fi, err := os.Stat(t.res.final)
	if err != nil {
		t.missing(log)
		return Change{}, false
	}
	if !sameStat(fi, t.snap) {
		t.rearm(now, settle, fi) // written to since the last event
		return Change{}, false
	}
	c, err := readContent(t.res.final)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRegular) {
		t.missing(log)
		return Change{}, false
	}
	if err != nil {
		t.dirty = false
		log.Warn("watch: cannot read watched file", "path", t.given, "resolved", t.res.final, "err", err)
		return Change{}, false
	}
	if c.unstable {
		t.rearm(now, settle, c.info)
		return Change{}, false
	}
	t.dirty = false
	if c.incomplete != "" {
		// More writes will come, and with them events.
		log.Info("watch: file is still being written, waiting", "path", t.given, "resolved", t.res.final,
			"size", c.size, "why", c.incomplete)
		return Change{}, false
	}
	old := t.file
	t.file = fileState{exists: true, resolved: t.res.final, size: c.size, hash: c.hash}
	if old.exists && old.hash == c.hash {
		// A touch, a chmod, or the same content again.
		log.Debug("watch: no content change", "path", t.given, "resolved", t.res.final, "size", c.size, "sha256", shortHash(c.hash))
		return Change{}, false
	}
	return Change{
		Path:     t.given,
		Resolved: t.res.final,
		OldSize:  old.sizeOrNone(),
		NewSize:  c.size,
		OldHash:  shortHash(old.hash),
		NewHash:  shortHash(c.hash),
	}, true
}

// missing records that the file is gone, warning if it was there before.
func (t *target) missing(log *slog.Logger) {
	t.dirty = false
	if t.file.exists {
		attrs := []any{"path", t.given, "was", t.file.resolved}
		if t.resErr != nil {
			attrs = append(attrs, "err", t.resErr)
		}
		log.Warn("watch: watched file deleted and not replaced", attrs...)
	}
	t.file = fileState{}
}

func (t *target) checkDir(now time.Time, settle time.Duration, log *slog.Logger) (Change, bool) {
	files, present, err := t.readDir(true)
	var again *stillChanging
	switch {
	case errors.As(err, &again):
		t.rearm(now, settle, nil)
		return Change{}, false
	case err != nil:
		t.dirty = false
		log.Info("watch: file is still being written, waiting", "path", t.given, "err", err)
		return Change{}, false
	}
	t.dirty = false
	if t.present && !present {
		log.Warn("watch: watched directory deleted and not replaced", "path", t.given)
	}
	old := t.files
	t.files, t.present = files, present
	var changed []string
	for name, f := range files {
		if o, ok := old[name]; !ok || o.hash != f.hash {
			changed = append(changed, name)
		}
	}
	for name := range old {
		if _, ok := files[name]; !ok {
			changed = append(changed, name)
		}
	}
	if len(changed) == 0 {
		log.Debug("watch: no content change", "path", t.given, "resolved", t.res.final)
		return Change{}, false
	}
	slices.Sort(changed)
	first := changed[0]
	o, n := old[first], files[first]
	return Change{
		Path:     t.given,
		Resolved: filepath.Join(t.res.final, first),
		OldSize:  o.sizeOrNone(),
		NewSize:  n.sizeOrNone(),
		OldHash:  shortHash(o.hash),
		NewHash:  shortHash(n.hash),
		Files:    changed,
	}, true
}

// stillChanging is returned by readDir for a file that changed while it was read.
type stillChanging struct{ path string }

func (e *stillChanging) Error() string { return e.path + " changed while being read" }

// incompleteError is returned by readDir for an ELF file that is still being written.
type incompleteError struct{ path, why string }

func (e *incompleteError) Error() string { return e.path + ": " + e.why }

// readDir reads every regular file directly in a directory target, skipping names that start with
// ".". It reports whether the directory exists. If strict, a file still changing or still being
// written is an error (*stillChanging, *incompleteError).
func (t *target) readDir(strict bool) (map[string]fileState, bool, error) {
	files := make(map[string]fileState)
	if !t.res.exists {
		return files, false, nil
	}
	entries, err := os.ReadDir(t.res.final)
	if err != nil {
		return files, false, nil // gone, or not a directory any more
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(t.res.final, e.Name())
		c, err := readContent(p)
		if err != nil {
			continue // not a regular file, or gone meanwhile (its removal is an event)
		}
		if strict && c.unstable {
			return nil, true, &stillChanging{p}
		}
		if strict && c.incomplete != "" {
			return nil, true, &incompleteError{p, c.incomplete}
		}
		files[e.Name()] = fileState{exists: true, resolved: p, size: c.size, hash: c.hash}
	}
	return files, true, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
