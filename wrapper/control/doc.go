// Package control is zedr-run's control protocol, both ends: the server a
// running zedr-run answers `zedr-run status|restart|stop|reexec` on
// (Listen, Restore, Server.Serve), and the client those commands use to
// find it (Dirs, PathFor, Find) and ask it (Do).
//
// The protocol: a unix stream socket, one Request per connection written
// by the client as one line of JSON, one Response read back as one line of
// JSON. The JSON field names are the wire format; they do not change.
//
// Guarantees:
//   - Only a peer with the server's own uid, or root, is served: the
//     socket file is mode 0600, and SO_PEERCRED is checked on every
//     connection; any other peer is answered "permission denied" and its
//     request never reaches the Handler.
//   - The listening descriptor and every accepted one are close-on-exec:
//     no child gets them. FD and Restore carry the socket across
//     zedr-run's exec of itself without closing it.
//   - No step on a socket path follows a symbolic link or removes a file
//     that the server did not create: the socket is opened as a --listen
//     unix socket is (socketact.Open); Close removes its file only while it
//     is still that device and inode; the stale sockets PathFor sweeps are
//     checked after internal/sockfile moved them out of reach, and are only
//     sockets of dead processes, of our uid, that refuse connections.
//   - The server knows the supervisor only through Handler, which it
//     calls from each connection's own goroutine: a slow client or a
//     restart waited for never holds up another request. A Handler must
//     never make its owner wait on the server: it posts events and waits
//     on reply channels the owner never blocks on.
//   - A reexec's answer is written (or has failed) before the answered
//     channel handed to Handler.Reexec is closed, and the supervisor
//     execs only after that: the client always hears the answer.
//   - Find names only live sockets of our uid whose process runs; with
//     none or several it says so, and never guesses. PathFor's directory
//     is a real directory (not a symbolic link) that we can write, and one
//     under os.TempDir() belongs to us.
//   - Errors name no command-line flag; they match exported sentinels
//     (ErrInUse, ErrNoneRunning, ...) so that main can add which flag helps.
//
// Users: package wrapper serves it (its supervisor is the Handler) and
// hands the socket over across a reexec; main's control commands are the
// client, and main picks the default socket path with PathFor.
package control
