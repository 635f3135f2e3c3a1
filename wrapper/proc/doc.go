// Package proc starts and collects zedr-run's processes: the spawner, on
// one locked OS thread, that every fork (and zedr-run's own re-exec) goes
// through, and the reaper, the one owner of wait().
//
// Invariants:
//   - Every process zedr-run starts is forked by the spawner thread, which
//     lives as long as zedr-run, so a child's parent-death signal fires only
//     when zedr-run itself dies (go.dev/issue/27505: the signal follows the
//     thread that forked, and Go may end threads it no longer needs).
//   - Nothing else in zedr-run waits for a process: Reap collects every
//     child, zedr-run's own and orphans reparented to it (it is a child
//     subreaper), with wait4(-1), so os/exec's Wait must not be used.
//
// It imports nothing of zedr-run's.
package proc
