package watch

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "releases", "v1", "server"), script(1))
	if err := os.Symlink("releases/v1", filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	r, err := resolve(filepath.Join(dir, "current", "server"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "releases", "v1", "server"); r.final != want || !r.exists {
		t.Errorf("final = %q %v, want %q true", r.final, r.exists, want)
	}
	for _, l := range [][2]string{
		{dir, "current"}, {dir, "releases"},
		{filepath.Join(dir, "releases"), "v1"}, {filepath.Join(dir, "releases", "v1"), "server"},
		{filepath.Dir(dir), filepath.Base(dir)},
	} {
		if !r.lookups[l[0]][l[1]] {
			t.Errorf("no lookup of %q in %q: %v", l[1], l[0], r.lookups)
		}
	}
	if _, ok := r.lookups[filepath.Join(dir, "current")]; ok {
		t.Errorf("lookup in the symlink itself: %v", r.lookups)
	}

	r, err = resolve(filepath.Join(dir, "current", "missing"))
	if err != nil || r.exists || r.final != filepath.Join(dir, "releases", "v1", "missing") {
		t.Errorf("missing file: %+v %v", r, err)
	}
	if _, err := resolve(filepath.Join(dir, "nodir", "server")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing directory: %v, want ErrNotExist", err)
	}
	if err := os.Symlink("loop", filepath.Join(dir, "loop")); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(filepath.Join(dir, "loop", "server")); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("symlink loop: %v, want ELOOP", err)
	}
}
