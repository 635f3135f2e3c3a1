//go:build unix

package socketact

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"zedr-run/internal/sdnotify"
)

// The child's side of the fd store (systemd's, and zedr-run's --fdstore-max):
// a process stores descriptors with FDSTORE=1 and FDNAME=NAME on
// $NOTIFY_SOCKET (sd_pid_notify_with_fds(3)), and every later start of the
// service gets them back after its sockets, named in LISTEN_FDNAMES. This is
// libzedr's zedr_fd_init: File returns what a previous generation stored,
// or creates it and stores it for the next one.

// ErrNoManager is what Store, Remove and StoreConn return when
// NOTIFY_SOCKET is unset: no service manager keeps anything.
var ErrNoManager = errors.New("no service manager: NOTIFY_SOCKET is not set")

// taken lists the passed fds File and Conns have handed out, by index.
var taken struct {
	sync.Mutex
	conns map[int]bool // taken by Conns (their files are closed)
}

// File returns the descriptor named name that this process was passed
// (LISTEN_FDNAMES; the first, if several have that name), or, when none was, calls create and stores what it
// returns under name (Store) for the generations to come, and returns it.
// A later call with the same name returns the same file. Without a
// service manager (NOTIFY_SOCKET unset) the created file is returned
// unstored. The file stays in the store until Remove(name).
func File(name string, create func() (*os.File, error)) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	files, err := Files()
	if err != nil {
		return nil, err
	}
	taken.Lock()
	defer taken.Unlock()
	for i, f := range files {
		if f.Name() == name && !taken.conns[i] {
			return f, nil
		}
	}
	created.Lock()
	defer created.Unlock()
	if f, ok := created.files[name]; ok {
		return f, nil
	}
	f, err := create()
	if err != nil {
		return nil, fmt.Errorf("fd store: create %s: %w", name, err)
	}
	if err := Store(name, f); err != nil && !errors.Is(err, ErrNoManager) {
		f.Close()
		return nil, err
	}
	if created.files == nil {
		created.files = map[string]*os.File{}
	}
	created.files[name] = f
	return f, nil
}

// created are the files File created, by name.
var created struct {
	sync.Mutex
	files map[string]*os.File
}

// Store puts f into the service manager's fd store under name: one
// message "FDSTORE=1\nFDNAME=name" with f attached. The manager keeps a
// copy of the descriptor; f stays open here. A stored socket that hangs up
// is dropped by the manager.
func Store(name string, f *os.File) error {
	return store(name, int(f.Fd()), true)
}

// StoreConn stores a connection (a *net.TCPConn or *net.UnixConn) under
// name, as Store does: the next generation takes it over with Conns. The
// connection stays open here; the manager drops its copy when the peer
// hangs up.
func StoreConn(name string, c net.Conn) error {
	sc, ok := c.(interface{ File() (*os.File, error) })
	if !ok {
		return fmt.Errorf("fd store: store %s: a %T has no descriptor", name, c)
	}
	f, err := sc.File() // a duplicate, closed once sent
	if err != nil {
		return fmt.Errorf("fd store: store %s: %w", name, err)
	}
	defer f.Close()
	return store(name, int(f.Fd()), true)
}

// Remove drops every descriptor stored under name from the service
// manager's store (FDSTOREREMOVE=1).
func Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return send(name, nil, "FDSTOREREMOVE=1", "FDNAME="+name)
}

// Conns takes over the connections passed under name (stored by a
// previous generation with StoreConn): it returns them as net.Conns, in
// the order stored, closes the passed files (Files then lists them
// closed), and removes name from the store, since the store's copy would
// otherwise keep each connection open after this process closes it. A
// second call returns none. nil, nil when there are none.
func Conns(name string) ([]net.Conn, error) {
	files, err := Files()
	if err != nil {
		return nil, err
	}
	taken.Lock()
	defer taken.Unlock()
	var conns []net.Conn
	for i, f := range files {
		if f.Name() != name || taken.conns[i] {
			continue
		}
		c, err := net.FileConn(f)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("fd %d (%s): %w", ListenFdsStart+i, name, err)
		}
		conns = append(conns, c)
	}
	if len(conns) == 0 {
		return nil, nil
	}
	if err := Remove(name); err != nil && !errors.Is(err, ErrNoManager) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	if taken.conns == nil {
		taken.conns = map[int]bool{}
	}
	for i, f := range files {
		if f.Name() == name && !taken.conns[i] {
			taken.conns[i] = true
			f.Close()
		}
	}
	return conns, nil
}

func store(name string, fd int, poll bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	lines := []string{"FDSTORE=1", "FDNAME=" + name}
	if !poll {
		lines = append(lines, "FDPOLL=0")
	}
	return send(name, []int{fd}, lines...)
}

func send(name string, fds []int, lines ...string) error {
	addr := os.Getenv(envNotifySocket)
	if addr == "" {
		return ErrNoManager
	}
	snd := sdnotify.NewSender(addr)
	defer snd.Close()
	if err := snd.SendWithFDs(fds, lines...); err != nil {
		return fmt.Errorf("fd store: %s: %w", name, err)
	}
	return nil
}

// checkName refuses what LISTEN_FDNAMES cannot carry, as systemd's
// fdname_is_valid: empty, longer than 255 bytes, ':' or a control
// character.
func checkName(name string) error {
	if problem := FDNameProblem(name); problem != "" {
		return fmt.Errorf("fd store: bad name %q: %s", name, problem)
	}
	return nil
}
