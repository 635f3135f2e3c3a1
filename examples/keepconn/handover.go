//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/socketact"
)

// The handover socket. zedr-run, like systemd, gives a generation the
// stored fds when it starts it; and it starts the next generation before it
// stops this one. So what this generation would store while stopping would
// reach only the generation after next. Instead each generation stores one
// end of a socket pair, "handover", and keeps the other: the next
// generation finds the stored end in LISTEN_FDNAMES and asks through it;
// this generation then stops reading, writes its state and passes its
// connections (SCM_RIGHTS), while both are alive.
const (
	handoverName = "handover" // FDNAME of the stored end
	stateName    = "state"    // FDNAME of the state memfd

	msgTakeover = "TAKEOVER" // next -> this: hand everything over
	msgConn     = "CONN"     // this -> next: one connection attached
	msgDone     = "DONE"     // this -> next: all passed, the state written

	// handoverTimeout bounds the wait for the generation before: it
	// finishes the requests in progress first, which on loopback takes
	// milliseconds; a predecessor that hangs must not keep this one from
	// ever becoming ready.
	handoverTimeout = 10 * time.Second
)

// passed returns the fd that was passed under name, or nil.
func passed(name string) (*os.File, error) {
	files, err := socketact.Files()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, nil
}

// newHandover makes a socket pair, stores one end as "handover" and returns
// the other, where the next generation's request arrives.
func newHandover() (*net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("handover socket pair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "handover"), os.NewFile(uintptr(fds[1]), handoverName)
	defer mine.Close()
	defer theirs.Close() // the store keeps its own copy
	if err := socketact.Store(handoverName, theirs); err != nil {
		return nil, err
	}
	c, err := net.FileConn(mine)
	if err != nil {
		return nil, fmt.Errorf("handover socket: %w", err)
	}
	return c.(*net.UnixConn), nil
}

// takeOver asks the generation before through its stored end f and returns
// its connections in the order it sent them; once it returns, the
// generation before has written the state and reads none of them any more.
func takeOver(f *os.File) ([]net.Conn, error) {
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	uc := c.(*net.UnixConn)
	// Out of the store first: the next generation must find ours, not this.
	if err := socketact.Remove(handoverName); err != nil {
		uc.Close()
		return nil, err
	}
	conns, err := receive(uc)
	if err != nil {
		uc.Close()
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	// Keep our end until the generation before exits, so that it never
	// reads an end of file while it still runs.
	go func() {
		io.Copy(io.Discard, uc)
		uc.Close()
	}()
	return conns, nil
}

func receive(uc *net.UnixConn) ([]net.Conn, error) {
	uc.SetDeadline(time.Now().Add(handoverTimeout))
	defer uc.SetDeadline(time.Time{})
	if _, err := uc.Write([]byte(msgTakeover)); err != nil {
		return nil, fmt.Errorf("ask: %w", err)
	}
	var conns []net.Conn
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
		if err != nil {
			return conns, fmt.Errorf("receive: %w", err)
		}
		files, err := attached(oob[:oobn])
		if err != nil {
			return conns, err
		}
		msg := string(buf[:n])
		switch {
		case msg == msgDone && len(files) == 0:
			return conns, nil
		case strings.HasPrefix(msg, msgConn) && len(files) == 1:
			c, err := net.FileConn(files[0])
			files[0].Close()
			if err != nil {
				return conns, fmt.Errorf("%s: %w", msg, err)
			}
			conns = append(conns, c)
		default:
			for _, f := range files {
				f.Close()
			}
			return conns, fmt.Errorf("unexpected message %q with %d fds", msg, len(files))
		}
	}
}

// attached returns the fds of SCM_RIGHTS in oob.
func attached(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "conn"))
		}
	}
	return files, nil
}

// awaitTakeover reports the next generation's request on uc (nil), or why
// none can come.
func awaitTakeover(uc *net.UnixConn) <-chan error {
	ch := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := uc.Read(buf)
		switch {
		case err != nil:
			ch <- err
		case string(buf[:n]) != msgTakeover:
			ch <- fmt.Errorf("unexpected message %q", buf[:n])
		default:
			ch <- nil
		}
	}()
	return ch
}

// awaitEnd is closed when every other copy of uc's peer is closed: after a
// handover, when the next generation is gone (it holds its copy until this
// generation exits, and took the store's out).
func awaitEnd(uc *net.UnixConn) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		io.Copy(io.Discard, uc)
		close(ch)
	}()
	return ch
}

// renewHandover closes old and leaves a new handover socket in the store.
func renewHandover(old *net.UnixConn) (*net.UnixConn, error) {
	old.Close()
	return newHandover()
}

// pass sends one connection to the next generation.
func pass(uc *net.UnixConn, i int, c net.Conn) error {
	sc, ok := c.(interface{ File() (*os.File, error) })
	if !ok {
		return errors.New("a connection without a descriptor")
	}
	f, err := sc.File()
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, err = uc.WriteMsgUnix(fmt.Appendf(nil, "%s %d", msgConn, i), unix.UnixRights(int(f.Fd())), nil)
	return err
}
