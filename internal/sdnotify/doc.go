// Package sdnotify owns the sd_notify(3) protocol, both ends of it: the
// receiving socket zedr-run gives its children as NOTIFY_SOCKET (Listen,
// Restore, Socket.Receive), and the one sender every sending place in
// zedr-run uses (Sender): zedr-run's messages to its own service manager
// (READY=1, RELOADING=1 with MonotonicUsec, STATUS=, ERRNO=, STOPPING=1),
// the fd store pushes with SCM_RIGHTS (socketact.StoreFDs, and the
// children's descriptors with --fdstore), and a child's Notify
// (socketact.Notify, which the test server uses).
//
// Guarantees:
//
//   - A message is read with its sender's credentials (SCM_CREDENTIALS,
//     which the kernel fills in, so a sender cannot lie about its pid or
//     uid) or not at all, and only messages of the accepted uids are
//     delivered: root, the receiver's own uid and the uids given to Listen
//     or Restore. Others are read and dropped.
//   - A datagram is read whole up to MaxMessage bytes; a longer one is
//     ignored whole, as systemd ignores it (Truncated, no fields, its
//     descriptors closed). Descriptors a sender attaches (SCM_RIGHTS) are installed only
//     after AcceptFDs, close-on-exec (MSG_CMSG_CLOEXEC) and at most
//     AcceptFDs' bound (itself at most MaxMessageFDs) per message; without
//     it the control buffer has room for the credentials only. No
//     descriptor leaks: those of a dropped datagram (wrong uid, no
//     credentials) or of one that carried too many (MSG_CTRUNC, FDsCut)
//     are closed in Receive, and those of a delivered Message are the
//     caller's.
//   - Receive never blocks; Wait is the only call that waits, and only for
//     the socket to become readable or be closed. Neither holds a lock of
//     the caller's; callers that must order messages against other events
//     (wrapper's intake) read under their own lock.
//   - The socket file is in a private directory (os.MkdirTemp, mode 0700)
//     that Close removes; with no writable temporary directory (a scratch
//     container) the socket is abstract and has no file at all. HandTo
//     gives the file to another user without following a symbolic link.
//   - Parse never returns an empty key.
//   - A Sender keeps its connection and dials again once when a send
//     fails (the manager may have re-created its socket); a Sender with no
//     address sends nothing.
//
// A send waits only while the receiving socket's queue is full, as
// sendmsg(2) does; Receive never waits, so a reader holding a lock never
// waits for a sender.
//
// Users: wrapper (the children's socket, read by its intake, and its own
// messages to the service manager), socketact (Notify, StoreFDs), and
// through socketact.Notify the test server. It imports only the standard
// library and golang.org/x/sys, and names no command-line flag. The
// receiving side and MonotonicUsec are Linux only (SO_PASSCRED); Sender is
// portable, SendWithFDs needs unix.
package sdnotify
