package wrapper

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fdPoller watches the stored descriptors for EPOLLHUP and EPOLLERR (which
// epoll reports whatever events are asked for: the poller asks for none)
// on its own goroutine, and posts an fdHangup for each. The loop adds and
// removes descriptors (epoll_ctl does not block); only the goroutine waits.
// Each registration is one-shot, so a hung-up descriptor is reported once
// and the loop drops it.
type fdPoller struct {
	ep   int // the epoll instance
	wake int // an eventfd that ends the goroutine
}

// wakeID is the wake eventfd's key; stored fds have ids from 1.
const wakeID = -1

func newFDPoller() (*fdPoller, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fd store: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeID})
	}
	if err != nil {
		unix.Close(ep)
		if wake > 0 {
			unix.Close(wake)
		}
		return nil, fmt.Errorf("fd store: eventfd: %w", err)
	}
	return &fdPoller{ep: ep, wake: wake}, nil
}

// add watches f, reported as id. Regular files give EPERM.
func (p *fdPoller) add(f *os.File, id int32) error {
	return unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, int(f.Fd()), &unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: id})
}

// remove stops watching f; call it before closing f, since a descriptor
// the children still hold stays in the epoll set after our close.
func (p *fdPoller) remove(f *os.File) {
	unix.EpollCtl(p.ep, unix.EPOLL_CTL_DEL, int(f.Fd()), nil)
}

// run waits for hang-ups and posts them, until close; then it closes the
// epoll instance and the eventfd.
func (p *fdPoller) run(post func(event)) {
	evs := make([]unix.EpollEvent, 16)
	for {
		n, err := unix.EpollWait(p.ep, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // EBADF or EINVAL: cannot happen with our own epoll fd
		}
		for _, ev := range evs[:n] {
			if ev.Fd == wakeID {
				unix.Close(p.ep)
				unix.Close(p.wake)
				return
			}
			if ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				post(fdHangup{id: ev.Fd})
			}
		}
	}
}

// close ends run.
func (p *fdPoller) close() {
	unix.Write(p.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
}
