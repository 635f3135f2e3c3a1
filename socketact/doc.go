// Package socketact opens, inherits and hands over listening sockets by
// systemd's socket-activation protocol (sd_listen_fds(3)), on both sides:
// zedr-run's (ParseSpec, Open, OpenAll, ChildEnv) and the child's (Files,
// Listeners, PacketConns, Notify, and the fd store: File, Store, Remove,
// StoreConn, Conns).
//
// Guarantees:
//
//   - ParseSpec accepts exactly the --listen grammar
//     PROTO ":" ADDRESS [ "," OPTION ]* and rejects everything else with a
//     *SpecError that names the spec and the reason. Spec.String is the
//     canonical form: ParseSpec(s.String()) == s for every parsed s.
//   - CheckSpecs rejects, with a *SpecError and before anything opens, two
//     specs that would bind the same address and an owner= that names no
//     user or group.
//   - Open creates the socket with raw syscalls, close-on-exec and in blocking
//     mode, so backlog, SO_REUSEADDR, SO_REUSEPORT and IPV6_V6ONLY are exactly
//     what the Spec says. Every failure is an *OpenError that names the spec,
//     the address and the OS error, and leaves nothing open or created behind.
//   - A file at a unix socket path is removed only when it is a socket that
//     nobody serves (connect is refused); any other file is left alone.
//     Socket.Close removes only the socket file that this Socket created.
//   - Nothing is done to a unix socket path that could follow a symbolic
//     link or reach a file zedr-run did not create, even when others can
//     write its directory: mode= is applied by bind itself (a umask), owner=
//     on the inode the kernel says the socket is bound to, and a removal
//     moves the file out of reach and checks its inode first (see
//     internal/sockfile).
//   - A socket inherited through our own LISTEN_FDS is adopted by OpenAll,
//     never reopened, and each file descriptor has exactly one *os.File owner:
//     Inherited and Files read the environment once and return the same
//     files on every call.
//   - The child side never changes the environment: LISTEN_PID already keeps
//     grandchildren from taking the sockets.
//   - Notify and StoreFDs send through internal/sdnotify's Sender, the one
//     sd_notify sender in zedr-run.
//   - The fd store's child side (File, Store, StoreConn, Remove, Conns;
//     unix only) speaks systemd's protocol (FDSTORE=1, FDNAME=,
//     FDSTOREREMOVE=1 on NOTIFY_SOCKET), so it works under systemd and
//     under zedr-run alike. File hands out each passed fd once per name,
//     as the same *os.File as Files; Conns takes connections over and
//     removes them from the store, so that closing one closes it.
//   - Listeners and PacketConns skip passed fds that are not sockets (a
//     stored memfd).
//   - OpenAllStored sets apart the inherited fds named by ManagerStoreName
//     (zedr-store.NAME, zedr-store-nopoll.NAME: what zedr-run kept for its
//     children in its own service manager's store) and never takes them
//     for sockets; no --listen spec or socket unit's name can be mistaken
//     for them, since a spec adopts by address.
//
// The socket code is Linux only; elsewhere Open, Inherited and Files return
// ErrUnsupported.
package socketact
