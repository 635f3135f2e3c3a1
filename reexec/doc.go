// Package reexec is what zedr-run runs as itself, re-executed, and the
// protocols between those processes and zedr-run, both ends of each: the
// shim that stands between zedr-run and the program it supervises, the
// guardian that cleans up if zedr-run dies, and the handoff and self-test
// of `zedr-run reexec`. main calls Init first; package wrapper (the
// supervisor) starts the shim and the guardian and fills and reads the
// handoff. reexec imports none of zedr-run's packages but the leaves
// internal/contain, internal/seccomp and internal/sockfile.
//
// zedr-run starts every child as its own binary (/proc/self/exe) with
// argv[0] set to ShimName. The shim runs before any of the user's code: it
// sets LISTEN_PID (and, with WATCHDOG_USEC, WATCHDOG_PID) to its own pid,
// marks the status channel close-on-exec and execve()s the user's command,
// which keeps the pid. So the program the user named sees LISTEN_PID and
// WATCHDOG_PID equal to its own pid, exactly as sd_listen_fds(3) and
// sd_watchdog_enabled(3) require, which Go cannot arrange between fork and
// exec.
//
// Guarantees:
//   - On success the program inherits fds 0-2 and the sockets at 3.. and
//     nothing else: the status channel is close-on-exec and the shim opens
//     no other descriptor that survives execve.
//   - On failure (no such file, permission denied, exec format error) the
//     shim writes one message to the status channel, which zedr-run reports,
//     and exits 127 (not found) or 126 (found but not executable), as shells do.
//   - The parent learns that execve succeeded when the status channel reaches
//     end of file with no message.
//   - In transparent mode (ArgsWith with Intercept.Bind) the shim, on its
//     locked thread, sets no_new_privs and installs a seccomp filter that
//     turns bind() and listen() (and unlink()/unlinkat() with
//     Intercept.Unlink) of the native ABI into user notifications, sends the
//     listener fd on the status channel (ListenerMessage with SCM_RIGHTS),
//     then execs on that same thread. It refuses, with the reason on the
//     status channel, where the kernel or architecture cannot do it.
//   - A spare shim (SpareArgs, spare_linux.go) is a shim forked before
//     zedr-run knows when it runs the command, with the descriptors, user
//     and directory a shim gets: it waits on its status channel for one
//     Order (the command, environment and Intercept, one datagram of at
//     most MaxOrder bytes), then does what the shim does, with the same
//     guarantees and reports. EOF before an order ends it with status 0.
//   - The guardian (GuardianName) kills the process groups zedr-run told it
//     of once zedr-run is gone without saying "exit", and what left them:
//     zedr-run's cgroup subtree (cgroup.kill) and the processes holding
//     its sockets with its NOTIFY_SOCKET in their environment, never
//     itself, pid 1 or zedr-run's ancestors; see guardian.go. It then
//     removes the socket files it was told of (Guardian.File) only while
//     each is still the device and inode zedr-run created; see
//     guardian_files.go. Both ends of its line protocol are here: zedr-run
//     writes through a Guardian (guardian_writer.go, started with
//     StartGuardian or adopted across a reexec with AdoptGuardian), the
//     guardian reads with readOrders (guardian.go); the lines are frozen,
//     since a guardian outlives a reexec (testdata/guardian-writer.golden).
//   - The handoff (Handoff, handoff.go) is the state one zedr-run hands the
//     binary it execs in its place, in the environment (HandoffEnv, written
//     by EnvEntry, read and unset by ParseHandoff). It is versioned
//     (HandoffVersion): a binary reads every version up to its own and
//     refuses a later one, and states travel by name (HandoffState), with
//     version 1's numbers read through a frozen table. The golden files
//     testdata/handoff-v*.json keep every older form readable and the
//     current encoding byte for byte. Before the exec, the new binary runs
//     as the self-test (SelfTestArgs), which passes only if it starts and
//     reads the current version.
package reexec
