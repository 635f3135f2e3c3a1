package socketact

import (
	"fmt"
	"net"
	"os"
	"sync"

	"zedr-run/internal/sdnotify"
)

// The process's own passed fds, read once and shared by Files and
// Inherited: two *os.File for one fd would close it twice.
var passed struct {
	once  sync.Once
	files []*os.File
	names []string
	err   error
}

func passedFDs() ([]*os.File, []string, error) {
	passed.once.Do(func() {
		passed.files, passed.names, passed.err = takeFDs(os.Getenv, os.Getpid())
	})
	return passed.files, passed.names, passed.err
}

// Files returns the sockets passed to this process by sd_listen_fds(3): fds
// 3, 3+1, ..., 3+LISTEN_FDS-1 if LISTEN_PID is our pid, with close-on-exec
// set and Name() the fd's LISTEN_FDNAMES entry ("unknown" when unnamed). It
// returns nil, nil when the process was not socket-activated. It reads the
// environment once and returns the same files on every call; it leaves the
// environment alone (LISTEN_PID already keeps our own children from taking
// the sockets).
func Files() ([]*os.File, error) {
	files, _, err := passedFDs()
	return files, err
}

// Listeners returns the passed listening stream sockets (tcp, unix,
// unixpacket) as net.Listeners keyed by fd name, in fd order within a name.
// Each call returns new listeners on the same sockets. Passed sockets of
// other kinds are left out; nil, nil when not socket-activated.
func Listeners() (map[string][]net.Listener, error) {
	return convert(sockListener, func(f *os.File) (net.Listener, error) { return net.FileListener(f) })
}

// PacketConns returns the passed datagram sockets (udp, unixgram) as
// net.PacketConns keyed by fd name, in fd order within a name. Each call
// returns new conns on the same sockets; nil, nil when not socket-activated.
func PacketConns() (map[string][]net.PacketConn, error) {
	return convert(sockDatagram, func(f *os.File) (net.PacketConn, error) { return net.FilePacketConn(f) })
}

type sockKind int

const (
	sockOther sockKind = iota
	sockListener
	sockDatagram
)

type closer interface{ Close() error }

func convert[T closer](want sockKind, conv func(*os.File) (T, error)) (map[string][]T, error) {
	files, err := Files()
	if err != nil || len(files) == 0 {
		return nil, err
	}
	m := make(map[string][]T)
	for i, f := range files {
		kind, err := kindOf(f)
		if err == nil && kind != want {
			continue
		}
		var c T
		if err == nil {
			c, err = conv(f)
		}
		if err != nil {
			for _, cs := range m {
				for _, c := range cs {
					c.Close()
				}
			}
			return nil, fmt.Errorf("fd %d (%s): %w", ListenFdsStart+i, f.Name(), err)
		}
		m[f.Name()] = append(m[f.Name()], c)
	}
	return m, nil
}

// Notify sends state (such as "READY=1", "STATUS=serving" or several
// newline-separated assignments) to the service manager as sd_notify(3)
// does, on the datagram socket $NOTIFY_SOCKET (a path, or @name for an
// abstract socket). It returns false, nil when NOTIFY_SOCKET is unset, and
// true, nil once the datagram is sent.
func Notify(state string) (bool, error) {
	addr := os.Getenv(envNotifySocket)
	if addr == "" {
		return false, nil
	}
	if err := sdnotify.Send(addr, state); err != nil {
		return false, fmt.Errorf("notify: %w", err)
	}
	return true, nil
}
