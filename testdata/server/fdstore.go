package main

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"os"

	"golang.org/x/sys/unix"

	"zedr-run/socketact"
)

// With -fdstore the server keeps state in the fd store (socketact's File,
// StoreConn, Conns):
//
//   - a counter in a memfd named "counter": each generation finds the one
//     the first created, adds one and logs "fdstore counter=N
//     fdnames=LISTEN_FDNAMES";
//   - GET /keep hijacks the connection, answers "stored by IDENTITY\n" and
//     stores it as "client"; the next generation takes the stored
//     connections over (Conns), writes "taken over by IDENTITY\n" on each
//     and closes it.
func useFDStore() error {
	f, err := socketact.File("counter", func() (*os.File, error) {
		fd, err := unix.MemfdCreate("counter", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), "counter"), nil
	})
	if err != nil {
		return err
	}
	var b [8]byte
	f.ReadAt(b[:], 0) // a new memfd is empty: 0
	n := binary.LittleEndian.Uint64(b[:]) + 1
	binary.LittleEndian.PutUint64(b[:], n)
	if _, err := f.WriteAt(b[:], 0); err != nil {
		return err
	}
	logf("fdstore counter=%d fdnames=%s", n, os.Getenv("LISTEN_FDNAMES"))
	conns, err := socketact.Conns("client")
	if err != nil {
		return err
	}
	for _, c := range conns {
		fmt.Fprintf(c, "taken over by %s\n", identity)
		c.Close()
	}
	if len(conns) > 0 {
		logf("fdstore took over %d connections", len(conns))
	}
	return nil
}

// keepHandler stores the request's connection for the next generation.
func keepHandler(w http.ResponseWriter, r *http.Request) {
	c, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer c.Close() // the store keeps its own copy
	fmt.Fprintf(buf, "stored by %s\n", identity)
	buf.Flush()
	if err := socketact.StoreConn("client", c); err != nil {
		logf("store: %v", err)
	}
}
