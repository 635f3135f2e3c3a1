// Command racer plays a user who can write the directory of a unix socket
// path: whenever a socket appears at PATH it replaces it, atomically, with
// a symbolic link to TARGET. It writes PATH.racer-ready once it runs, and
// runs until killed.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: racer PATH TARGET")
		os.Exit(2)
	}
	path, target := os.Args[1], os.Args[2]
	link := path + ".link"
	if err := os.WriteFile(path+".racer-ready", nil, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		os.Symlink(target, link) // EEXIST: the last one is still there
		var st unix.Stat_t
		if unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			unix.Rename(link, path)
		}
	}
}
