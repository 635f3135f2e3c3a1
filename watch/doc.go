// Package watch tells zedr-run when a watched file's content has really changed: when a new binary
// (or script, or config file) has been deployed and is complete.
//
// Guarantees:
//
//   - A Change is sent only for a file whose content (SHA-256) differs from the last content seen for
//     that path, which has not changed for Settle, and which is complete: an ELF file whose header,
//     program headers, section headers, loadable segments or sections reach past the end of the file
//     is still being written and never produces a Change. A touch, a chmod, or a symlink flip to a file
//     with the same content is no change.
//   - A burst of changes, or a file written slowly, gives one Change, once the file is complete.
//   - Paths are resolved again at every change, following symlinks the way the kernel does. Every
//     directory in which a name is looked up on the way (each ancestor, and each directory along each
//     symlink chain) is watched with fsnotify, never the file itself, so every way of replacing a file
//     is seen: rename over it (mv, install, rsync), rewrite in place, unlink then create, a symlink
//     flip of the file or of any directory on its path (ln -sfn releases/v2 current), and a directory
//     on the path that is itself replaced. Watches follow the path after each flip.
//   - A file deleted and not replaced is no Change: a warning is logged, and the file counts as
//     missing, so a later re-creation is a Change (with OldHash "").
//   - A watched directory counts as changed when a regular file directly in it is added, removed or
//     changes content; subdirectories are not watched, names starting with "." (editors' and rsync's
//     temporary files) are ignored, and every file in it is read again at each change, so it is meant
//     for small directories (a conf.d), not trees.
//
// The state (targets, their last content, pending settle deadlines) is owned by the goroutine running
// Run; nothing else touches it. Events that happen between New and Run are not lost: New takes the
// baseline content after its watches are in place.
package watch
