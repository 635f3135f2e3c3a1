// Package contain finds every process of a generation, wherever it went,
// so that a stopped generation leaves nothing behind. Process groups are
// not enough: a process that calls setsid() or setpgid() leaves its group
// and keeps the listening sockets it inherited.
//
// Two mechanisms, the first where the kernel offers it:
//
//   - cgroup (cgroup_linux.go): a cgroup v2 subtree of zedr-run's own cgroup,
//     "zedr-run.<pid>" (or the first free "zedr-run.<pid>-N": pids repeat
//     across pid namespaces), with one leaf per worker, handed over across
//     a reexec. A child is started inside its leaf by
//     clone3(CLONE_INTO_CGROUP) (Linux >= 5.7), so no process of it is ever
//     outside; cgroup.kill (Linux >= 5.14) kills a leaf, or the
//     whole subtree, at once, whatever sessions or groups its processes
//     moved to. Used when zedr-run's cgroup is writable: root, systemd's
//     Delegate=yes (a systemd unit's cgroup is used only if it carries the
//     delegate xattr), or a container with a private writable cgroup
//     namespace. zedr-run stays in its own cgroup and enables no
//     controller, and the subtree root holds no process, so the cgroup v2
//     "no internal processes" rule never bites. On a hybrid host (cgroup v1
//     plus cgroup2 at /sys/fs/cgroup/unified) the cgroup2 mount is found in
//     /proc/self/mountinfo and the cgroup in /proc/self/cgroup ("0::PATH").
//   - scan (scan_linux.go): without a writable cgroup2, the processes that hold
//     one of zedr-run's listening sockets are found by their descriptors
//     ("socket:[INODE]" in /proc/PID/fd). Which of them belong to which
//     generation is the caller's decision (descent, process group, the
//     ZEDR_GENERATION and NOTIFY_SOCKET of /proc/PID/environ); this package
//     only reads /proc.
//
// The package is a leaf (it imports only x/sys/unix): the supervisor
// (wrapper) and the guardian (reexec) both use it.
package contain
