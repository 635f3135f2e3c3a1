package wrapper

import (
	"errors"
	"net"
	"os"
	"sync"

	"zedr-run/internal/sdnotify"
	"zedr-run/wrapper/proc"
)

// notifyMessage is the loop's event for one sd_notify datagram an accepted
// sender (sdnotify.Socket) sent.
type notifyMessage struct {
	pid    int
	fields map[string]string // READY=1 -> fields["READY"] == "1"
	fds    []*os.File        // attached by SCM_RIGHTS: onNotify stores or closes them
	cut    bool              // it carried more fds than a message may: none kept
	long   bool              // longer than sdnotify.MaxMessage: ignored whole
}

// A main process's exit and the sd_notify messages its generation sent just
// before it reach zedr-run by two ways, the reaper and the notify socket,
// and must reach the loop in the order they happened: a child that starts
// its daemon, says MAINPID= and exits would otherwise look like a child that
// died before ready. systemd reads its notifications before it handles
// SIGCHLD for the same reason.
//
// What makes an order possible: sendto() on a unix datagram socket queues
// the datagram on the receiving socket before it returns, so every message a
// process sent is in the notify socket's queue (or already read) by the
// time it has exited, and so by the time wait4() returns its status.
//
// How the order is kept, without the loop waiting for anything: the notify
// reader and the reaper take turns under one lock (intake.mu), and post what
// they have while they hold it. The notify reader reads without blocking,
// under the lock, only when the socket is readable; the reaper, after
// wait4() returned some exits, takes the lock, reads (without blocking) and
// posts every datagram still queued, and only then posts the exits. Every
// message sent before an exit is therefore posted before it, and the loop
// handles events in the order they were posted. Posting may block while the
// loop is busy, but only these goroutines wait, never the loop, which takes
// no lock here.
//
// The earlier way, a "barrier" datagram the loop sent itself through the
// notify socket, blocked the loop: the socket's queue holds only
// net.unix.max_dgram_qlen datagrams (10 by default), and with a hundred
// children exiting at once the queue was full while the notify reader
// waited for the loop to take its event, and the loop waited in sendto()
// for the reader. Sending the barrier without blocking would need a
// fallback for a full queue, and every fallback either waits or breaks the
// order; the lock needs neither.
type intake struct {
	mu     sync.Mutex
	notify *sdnotify.Socket
	post   func(event)
}

// serveNotify reads the notify socket until it is closed.
func (in *intake) serveNotify() {
	// Wait calls the function again each time the socket becomes
	// readable, for as long as it returns false.
	in.notify.Wait(func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		// Only a closed socket ends the reading: any other error (ENOMEM,
		// ENOBUFS) is one datagram lost, not the end of every READY=1.
		return errors.Is(in.drain(), net.ErrClosed)
	})
}

// postExits posts the exits the reaper collected, after every notify
// message sent before them.
func (in *intake) postExits(exits []proc.Exit) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.drain()
	for _, e := range exits {
		in.post(exitEvent(e))
	}
}

// drain posts every datagram waiting on the notify socket, from an
// accepted sender, without blocking. It returns why it stopped:
// sdnotify.ErrEmpty once the queue is empty. The caller holds in.mu.
func (in *intake) drain() error {
	for {
		m, err := in.notify.Receive()
		if err != nil {
			return err
		}
		in.post(notifyMessage{pid: m.PID, fields: m.Fields, fds: m.FDs, cut: m.FDsCut, long: m.Truncated})
	}
}
