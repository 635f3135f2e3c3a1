package watch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxSymlinks bounds symlink expansion in one path walk, as the kernel does (MAXSYMLINKS, 40).
const maxSymlinks = 40

// resolution is the result of walking a path the way the kernel does, one name at a time.
type resolution struct {
	// final is the path the walk ended at, free of symlinks. It is "" when a directory on the way
	// is missing (the walk stopped early).
	final string
	// exists reports whether final exists.
	exists bool
	// lookups holds every directory (symlink-free) in which a name was looked up, with those
	// names. A create, remove or rename of one of those names can change where the path leads, so
	// each of these directories is watched.
	lookups map[string]map[string]bool
}

func (r *resolution) lookup(dir, name string) {
	names := r.lookups[dir]
	if names == nil {
		names = make(map[string]bool)
		r.lookups[dir] = names
	}
	names[name] = true
}

// resolve walks abs (an absolute path) component by component, following symlinks, and records
// each directory it looks a name up in. A missing last component is no error (exists is false);
// a missing or non-directory component before it is: the returned resolution then holds the
// lookups made so far, which are worth watching until the path comes back.
func resolve(abs string) (resolution, error) {
	r := resolution{lookups: make(map[string]map[string]bool)}
	cur := "/"
	rest := splitPath(abs)
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // cur holds no symlink, so ".." is lexical
			continue
		}
		r.lookup(cur, name)
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) && len(rest) == 0 {
			r.final = next
			return r, nil
		}
		if err != nil {
			return r, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			links++
			if links > maxSymlinks {
				return r, &fs.PathError{Op: "resolve", Path: abs, Err: syscall.ELOOP}
			}
			target, err := os.Readlink(next)
			if err != nil {
				return r, err
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			rest = append(splitPath(target), rest...)
			continue
		}
		if len(rest) > 0 && !fi.IsDir() {
			return r, &fs.PathError{Op: "resolve", Path: next, Err: syscall.ENOTDIR}
		}
		cur = next
	}
	r.final = cur
	r.exists = true
	return r, nil
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}
