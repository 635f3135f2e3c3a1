package wrapper

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// A main process's exit and the sd_notify messages its generation sent just
// before it reach the loop by two ways (the reaper, the notify socket) and
// may arrive in either order: a child that starts its daemon, says
// MAINPID= and exits would look like a child that died before ready. Like
// systemd, which reads notifications before SIGCHLD, zedr-run handles such
// an exit only once it has read everything sent before it: it sends itself a
// barrier through the notify socket, which delivers datagrams in order.

const barrierKey = "ZEDR_BARRIER"

// afterNotifications runs fn once every notification sent so far has been
// handled, or at once if the barrier cannot be sent.
func (s *supervisor) afterNotifications(fn func()) {
	if s.barrierFD == 0 {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fn()
			return
		}
		s.barrierFD = fd
		s.barriers = map[int]func(){}
	}
	s.nextBarrier++
	id := s.nextBarrier
	msg := []byte(barrierKey + "=" + strconv.Itoa(id))
	if err := unix.Sendto(s.barrierFD, msg, 0, &unix.SockaddrUnix{Name: s.notify.path}); err != nil {
		fn()
		return
	}
	s.barriers[id] = fn
}

// onBarrier runs what waited for barrier m, if m is one of ours.
func (s *supervisor) onBarrier(m notifyMessage) bool {
	v, ok := m.fields[barrierKey]
	if !ok || m.pid != os.Getpid() {
		return false
	}
	id, _ := strconv.Atoi(v)
	if fn := s.barriers[id]; fn != nil {
		delete(s.barriers, id)
		fn()
		s.sweep()
	}
	return true
}

// flushBarriers runs everything still waiting for a barrier, in order, as a
// reexec must before it hands the state over.
func (s *supervisor) flushBarriers() {
	for id := 1; id <= s.nextBarrier; id++ {
		if fn := s.barriers[id]; fn != nil {
			delete(s.barriers, id)
			fn()
		}
	}
	s.sweep()
}
