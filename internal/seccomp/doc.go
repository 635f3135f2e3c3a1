// Package seccomp owns the seccomp user-notification protocol that
// zedr-run's transparent mode speaks, both ends of it: the filter a
// process installs on itself before it execs (Install), the syscall table
// that filter and its listener share (one per architecture, so the two ends
// can never disagree), and the listener's side of the kernel ABI (Recv,
// Continue, Succeed, SetFD) with the helpers that read a caller's
// arguments.
//
// Invariant: a number in the syscall table is either the native number of
// that call or NoSyscall, which no call has, on every architecture; the
// filter intercepts only the native ABI and lets every other ABI through.
//
// It imports nothing of zedr-run's and names no command-line flag.
package seccomp
