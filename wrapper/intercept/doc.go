// Package intercept is the supervisor's side of transparent mode
// (zedr-run --intercept-bind): it answers the seccomp user notifications
// of every generation, whose bind(), listen() (and unlink() when a unix
// socket path is held) the shim's filter turns into notifications
// (package reexec installs the filter and sends its listener; package
// internal/seccomp is the kernel ABI and the syscall table both ends share).
//
// How a call is answered, by one goroutine per generation:
//
//   - bind() of a declared address, with the same family, socket type and
//     protocol (an MPTCP socket counts as TCP): zedr-run's socket is
//     installed at the caller's fd number (SECCOMP_ADDFD_FLAG_SETFD,
//     keeping its close-on-exec flag) and the call returns 0;
//   - listen() on such a socket, and unlink() of a held unix socket path,
//     return 0 without running: the backlog zedr-run chose and the path stay;
//   - getsockopt(SOL_SOCKET, SO_ACCEPTCONN) on a held stream socket that the
//     calling generation has not listen()ed on yet returns 0, "not
//     listening", written into the caller's optval, as its own socket would
//     answer between bind() and listen(): a server that skips listen() on a
//     socket that already listens calls it, and --ready listen sees it. The
//     filter notifies only that option (internal/seccomp checks the
//     arguments), so no other getsockopt leaves the kernel;
//   - everything else runs unchanged.
//
// Adopting (New's adopt: zedr-run --intercept-bind with no --listen, or
// --listen auto), a bind() that matches no held socket runs as the caller
// asked, with its own privileges and socket options, and zedr-run takes
// its own reference to the socket (pidfd_getfd) when:
//
//   - a stream or seqpacket socket whose bind() to a fixed address (a port
//     other than 0, a unix path or abstract name) this generation's
//     goroutine saw calls listen(): zedr-run runs that listen() itself, on
//     the same socket with the caller's backlog, and answers 0;
//   - a UDP socket's bind() to a fixed port is seen done (looked at every
//     few milliseconds after the call), and the socket is not connected by
//     then (a client that binds a fixed port and connects at once).
//
// A listen() on a socket whose bind() this generation saw, to an address
// held by now (another worker of the same generation adopted its own
// socket in between, which SO_REUSEADDR allows), gets the held socket, as
// a bind() would, and returns 0.
//
// The adopted socket is then held as a declared one: a later generation's
// bind() of the same family, type and address gets it, its unix path's
// unlink() is faked, Adopted lists it. Never adopted: port 0, unnamed unix
// sockets, stream sockets that never listen (clients that bind before
// connect()), unixgram sockets, and a second socket for an address already
// held. A UDP socket bound to a fixed port and not connected at once is
// adopted even if it is a client's. When adopting, the filter intercepts
// unlink() from the first generation on.
//
// Guarantees:
//
//   - Every call it fails to handle (the caller died, /proc could not be
//     read, the fd could not be installed) runs unchanged, as if there were
//     no filter: it never makes a call fail that would have worked, and
//     every notification gets exactly one reply.
//   - Nothing a child passes is trusted: its address is read with a bounded
//     size, its fd is looked at through a pidfd opened before the
//     notification is checked to be still valid (so it is that caller, not
//     a process that reused its pid), and a relative path is resolved
//     against that process's own directory.
//   - A bind that matches no declared socket is logged with its address
//     ("bind not intercepted: no --listen matches"; at debug level for
//     port 0, a probe or a client).
//   - A new generation's bind() never changes the shared socket under a
//     generation that holds it. O_NONBLOCK is a file status flag: it belongs
//     to the open file description, which every fd of every process that
//     holds the socket shares (dup and SCM_RIGHTS share it; a socket cannot
//     be reopened through /proc/PID/fd to get a description of its own), so
//     two generations cannot see different values, and whatever one sets
//     (at bind here, or by its own fcntl(F_SETFL)) the other sees. Policy:
//     while no other generation holds the socket (the first one, or after a
//     crash), a bind gives it the caller's flag, that of the socket the
//     caller created and is replacing (servers set it before bind: Go and
//     nginx non-blocking, python and busybox blocking); once a generation
//     holds it (it bound it and a process of it is left), a later bind
//     leaves the flag as it is, and says so in the log when the caller's
//     socket had the other value. Why the holder wins: a server that
//     creates a blocking socket, binds and listens, and sets O_NONBLOCK
//     only later (then drains its accept queue until EAGAIN) would
//     otherwise make the old generation block inside accept() between the
//     new one's bind and its fcntl, where it stops answering and no longer
//     sees its stop signal. The new generation then sets the flag it wants
//     itself, as it would have on its own socket; generations of one server
//     agree on it. A server that wants a blocking socket while an older
//     generation made it non-blocking gets EAGAIN from accept() until the
//     older one is gone: such mixes (one server replaced by another that
//     blocks in accept) are not supported, and the log line names them.
//     fcntl(F_SETFL) is not intercepted: it would change the flag for
//     everyone too, and intercepting it would put zedr-run on a call many
//     servers make per connection.
//   - A generation's listener is served until no process under its filter
//     is left (the kernel reports POLLHUP), then closed.
//   - Once a generation has taken every socket held when it started
//     (listen() on each stream socket, bind() of each datagram socket; for
//     a declared-only configuration, every declared socket), the onListen
//     callback given to New is called once, with a Listen, from that
//     generation's goroutine: it must not block (the supervisor posts it to
//     its loop as an event, for --ready listen). When adopting, a
//     generation that took at least one socket and then none for
//     AdoptSettle counts too: the first generation has nothing to match,
//     and a new configuration may drop a port.
//   - An adopted socket is closed (and its unix socket file removed, if it
//     is still that socket's) once no process is left under a generation
//     that bound it and a newer generation has taken its sockets without it
//     (a dropped port), or the last one that bound it never took its
//     sockets (a rolled-back generation's new port), with the log line "adopted socket closed: no live generation binds it
//     any more". One whose last holder crashed stays open for its
//     successor. Close closes the rest when zedr-run ends; declared sockets
//     are never closed here. New's onAdopt hears of each adopted socket
//     (its inode and unix socket file), for what must outlive zedr-run's
//     death (the supervisor tells its guardian).
//
// Used by the supervisor (package wrapper); it does not import wrapper, and
// its errors name no command-line flag. It is a convenience, not a sandbox.
package intercept
