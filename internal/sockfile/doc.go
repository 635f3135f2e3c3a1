// Package sockfile acts on unix socket files by inode, never through a path
// that someone else may change between two system calls.
//
// zedr-run is often root and its socket paths may lie in directories that
// other users can write (/tmp, a shared run directory). Anything done by
// path there (chmod, chown, unlink) can be redirected by swapping the file
// for a symbolic link or another file in between. So:
//
//   - BindPerm creates the socket file with its final permission bits (a
//     umask on a thread of its own), so no chmod by path is needed.
//   - Bound opens the file at a socket's path without following a symbolic
//     link and checks that it is the very file the socket is bound to (the
//     kernel's sock_diag answer, UDIAG_SHOW_VFS); Chmod and Chown then act
//     on that open inode only.
//   - Remove first moves the file into a private directory (mode 0700, made
//     in the same parent), where nobody else can reach it, checks there what
//     it moved, and only then unlinks it; anything else goes back, with
//     RENAME_NOREPLACE. It never removes a file that is not a socket.
//
// The package is Linux only; elsewhere its functions return ErrUnsupported.
package sockfile
