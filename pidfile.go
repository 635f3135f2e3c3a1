//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// writePidFile writes zedr-run's pid to path atomically (a temporary file
// in the same directory, renamed over path), so that a reader never sees a
// partial file. It returns the function that removes it at exit, which
// leaves alone a file that no longer holds our pid.
func writePidFile(path string) (remove func(), err error) {
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("write --pid-file %s: %w", path, err)
	}
	_, werr := tmp.Write(pid)
	if err := tmp.Chmod(0o644); werr == nil {
		werr = err
	}
	if err := tmp.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("write --pid-file %s: %w", path, werr)
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, pid) {
			os.Remove(path)
		}
	}, nil
}
