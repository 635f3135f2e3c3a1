// Package wrapper is zedr-run's supervisor: it starts generations of the
// child, decides when a new one is ready, stops old ones and reaps every
// process that ends up its child.
//
// New(cfg) prepares a Supervisor and Run supervises; Restart, Stop, Status
// and Reexec are requests from other goroutines (the watchers, the control
// socket). Inside, one loop handles one event at a time (events_linux.go
// lists every kind, who sends it and who handles it) and acts on processes
// and time only through the effects interface (effects_linux.go), which the
// state machine's unit tests replace with a fake. ARCHITECTURE.md at the
// repository's root follows one restart through the code.
//
// Invariants, while Run runs:
//   - The listening sockets are never closed. They belong to the caller, who
//     opened them before Run and closes them after it returns.
//   - At most one generation is starting (not yet ready). Restart requests
//     that arrive meanwhile coalesce into one that runs after it.
//   - A generation is stopped only after its successor is ready and has
//     stayed up --min-ready since (minready_linux.go), unless it crashed or
//     zedr-run is shutting down: a new child that exits before that or is
//     not ready in time is rolled back and the serving one is left alone.
//     A rolled-back child that may hold the shared sockets is stopped
//     gracefully (stop signal, stop timeout); any other is killed at once.
//   - A hung worker (Config.Watchdog: no WATCHDOG=1 from a process of its
//     generation within it, or WATCHDOG=trigger) is replaced like a
//     restart replaces it, and gets Config.WatchdogSignal only once the
//     replacement is ready; if the replacement fails it serves on and is
//     tried again each interval (watchdog_linux.go). zedr-run's own
//     watchdog (Config.OuterWatchdog) is pinged by a timer event of the
//     loop, so a stuck loop stops pinging (outerwatchdog_linux.go).
//   - A child's EXTEND_TIMEOUT_USEC= only ever postpones its own ready,
//     stop or watchdog timeout (extend_linux.go).
//   - A crash loop ends Run (startlimit_linux.go): past Config's start
//     limit of crash restarts, or with no generation ready within its
//     interval, every generation is stopped and Run returns the status of
//     the child that failed last, never 0. Rolled-back restarts never
//     count.
//   - With a stop delay (stopdelay_linux.go), SIGTERM makes zedr-run
//     stopping at once while the generations serve on until a timer event;
//     the loop never sleeps through it.
//   - One goroutine (the loop, loop_linux.go) owns all state; every other
//     goroutine only sends it events, and requests carry a reply channel
//     with room for the one answer, so the loop never waits for a
//     requester.
//   - The loop never waits for anything but its next event, and never for
//     something that waits for the loop: a shim's report that it exec'd the
//     command comes as an event (awaitExec, exec_event_linux.go), and so
//     does the go-ahead of a reexec once its requester has answered
//     (execNow); exits are kept
//     after the notifications sent before them by the reaper and the notify
//     reader themselves (intake, barrier_linux.go, reading the children's
//     NOTIFY_SOCKET of package internal/sdnotify), with no message the loop
//     sends itself; Config.Logger is expected not to block (main writes
//     through a bounded queue, internal/logbuf), nor Config.OnReady (main's
//     is httpprobe's histogram observe, atomic adds). What it still does inline
//     is bounded by the kernel, not by other goroutines: forking a shim, a
//     signal, a write to the guardian's pipe or the service manager's
//     socket.
//   - One owner of wait(): the reaper collects every child with wait4(-1), so
//     nothing in zedr-run may use os/exec's Wait. Processes are started by the
//     spawner, on one locked OS thread that lives as long as zedr-run, so the
//     parent-death signal fires only when zedr-run itself dies.
//   - The children's fd store (FDSTORE=1, fdstore_linux.go) holds at most
//     Config.FDStoreMax descriptors, every one received either stored or
//     closed in the loop; every generation started later gets them after
//     the sockets, in the order stored. It outlives crashes and goes into
//     the reexec handoff. Hang-ups are watched by epoll on the fdPoller's
//     own goroutine (fdpoll_linux.go), which only posts fdHangup events.
//     With Config.ForwardStore (--fdstore) every descriptor stored and
//     every removal goes on to the service manager's store too, and what
//     that store hands back at start fills the store again
//     (managerstore_linux.go).
//   - The service manager (Config.OuterNotify) sees every restart as a
//     reload (upstream_linux.go): RELOADING=1 with MONOTONIC_USEC= when it
//     begins while something serves, READY=1 when it ends, with STATUS= and
//     ERRNO= when it failed, so that systemd's Type=notify-reload never
//     waits for a READY=1 that does not come.
//   - In transparent mode (Config.InterceptBind) children get no socket fds
//     and no LISTEN_* variables; each generation's seccomp listener is served
//     by its own goroutine (package intercept, wired in intercept_linux.go),
//     which only posts events to the loop, and is closed once no process of
//     that generation is left. With Config.InterceptAdopt the sockets the
//     children bind themselves are adopted and held there too (status lists
//     them), and closed when the loop ends.
//   - A stopped generation leaves no process behind, whatever process group
//     or session its processes moved to (contain_linux.go, package
//     contain): each worker starts in its own cgroup v2 leaf where
//     zedr-run's cgroup is writable, and is killed whole with cgroup.kill;
//     otherwise the processes that hold zedr-run's sockets are attributed
//     to workers (process group, descent, environment) and stopped with
//     theirs. Once a stopped worker's main process has exited, what is left
//     of it gets the rest of the stop timeout to finish on its own (systemd's
//     KillMode=mixed: a fork-per-connection server's handlers answer their
//     requests), then SIGKILL, as for the process group; after a crash it
//     gets the stop signal at once; a
//     worker is forgotten, and zedr-run exits, only once none is left.
//     zedr-run logs at start which mechanism it uses ("containment").
//     Reading /proc and cgroupfs is not waiting: the loop does it itself.
//   - The guardian (reexec.Guardian, started through the spawner) kills
//     every generation's process group, the cgroup subtree and the socket
//     holders that carry zedr-run's NOTIFY_SOCKET if zedr-run dies without
//     stopping them, in either mode, and removes the unix socket files
//     zedr-run created (--listen and the control socket), each only while
//     it is still that device and inode. The loop tells it of each group.
//   - `zedr-run reexec` (handoff_linux.go) hands everything over in a
//     reexec.Handoff, whose format and versions package reexec owns: the
//     loop fills it (handoff), execs from the spawner thread, and the new
//     zedr-run reads it back (restore), so the sockets stay open and the
//     children stay its children across the exec.
//   - The control socket is package control's Server; the Supervisor is
//     its control.Handler, whose methods (requests.go) post requests to
//     the loop with reply channels of one answer, which the loop never
//     blocks on. Package control keeps the socket's own guarantees (peer
//     check, no symlink followed, the stale sockets swept).
package wrapper
