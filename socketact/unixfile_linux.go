package socketact

import (
	"golang.org/x/sys/unix"

	"zedr-run/internal/sockfile"
)

// setupFile checks that the file at s.Address is the one that fd was just
// bound to and gives that inode the mode and owner of s. It returns the
// file's ID (also on a chmod or chown error, so that the caller removes
// it), or the failed operation with the error.
func setupFile(fd int, s Spec, uid, gid int) (*sockfile.ID, string, error) {
	f, st, err := sockfile.Bound(fd, s.Address)
	if err != nil {
		return nil, "bind", err
	}
	defer f.Close()
	id := sockfile.Of(&st)
	// BindPerm gave the permission bits already, unless a default ACL or a
	// refused unshare got in the way, or setuid, setgid or sticky is asked.
	if want := modeBits(s.Mode); s.Mode != 0 && st.Mode&0o7777 != want {
		if err := sockfile.Chmod(f, want); err != nil {
			return &id, "chmod", err
		}
	}
	if s.Owner != "" {
		if err := sockfile.Chown(f, uid, gid); err != nil {
			return &id, "chown", err
		}
	}
	return &id, "", nil
}

// removeCreated removes the socket file at path if it is still the file id,
// the one zedr-run created.
func removeCreated(path string, id sockfile.ID) error {
	_, err := sockfile.Remove(path, func(st *unix.Stat_t, _ string) bool { return sockfile.Of(st) == id })
	return err
}
