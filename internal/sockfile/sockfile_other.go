//go:build !linux

package sockfile

import "golang.org/x/sys/unix"

// Remove returns ErrUnsupported: the socket code is Linux only.
func Remove(path string, remove func(st *unix.Stat_t, connectPath string) bool) (bool, error) {
	return false, ErrUnsupported
}

// Of returns the ID of a stat result.
func Of(st *unix.Stat_t) ID { return ID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} }
