package wrapper

import (
	"zedr-run/reexec"
	"zedr-run/socketact"
)

// The guardian (reexec.Guardian) is told the process group of every
// generation, the cgroup subtree, the socket holders' marks and the socket
// files, so that it can clean up if zedr-run dies without doing so. Only
// the supervisor loop writes to it.

// guardFile has the guardian remove the unix socket file that sock
// created, if any, and only while it is still that file (its device and
// inode).
func guardFile(g *reexec.Guardian, sock *socketact.Socket) {
	if dev, ino, ok := sock.FileID(); ok {
		g.File(dev, ino, sock.Spec.Address)
	}
}
