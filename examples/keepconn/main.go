//go:build linux

// Command keepconn is a line-based server that keeps its clients'
// connections and its in-memory state across restarts under zedr-run (or
// any manager with systemd's fd store): no connection is closed, no request
// is lost, the counter goes on. README.md in this directory states the
// protocol a server follows to do the same; this program is that protocol
// and nothing more.
//
// Requests, one per line: "INCR" (the counter, incremented), "GET" (the
// counter), "ECHO text" (text), "GEN" (the generation that answers).
//
//	zedr-run --control /tmp/z.sock --listen tcp:127.0.0.1:7000 --ready notify -- ./keepconn
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"zedr-run/socketact"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "keepconn: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	s := &server{gen: os.Getenv("ZEDR_GENERATION"), clients: map[*client]bool{}}
	state, err := socketact.File(stateName, newStateFile)
	if err != nil {
		return err
	}
	s.state = state

	// Before the takeover, which closes the passed handover socket.
	lmap, err := socketact.Listeners()
	if err != nil {
		return err
	}
	if len(lmap) == 0 {
		return errors.New("no listening socket passed (run it under zedr-run --listen)")
	}

	// 1. Take over from the generation before, if one left a handover
	// socket in the store: its connections, then its state.
	var taken []net.Conn
	prev, err := passed(handoverName)
	if err != nil {
		return err
	}
	if prev != nil {
		taken, err = takeOver(prev)
		if err != nil {
			// It is gone (a crash): start from the last state it wrote.
			fmt.Fprintf(os.Stderr, "keepconn gen=%s: no handover from the generation before: %v\n", s.gen, err)
		}
	}
	st, err := readState(state)
	if err != nil {
		return err
	}
	if len(taken) != len(st.Conns) && len(taken) > 0 {
		for _, c := range taken {
			c.Close()
		}
		return fmt.Errorf("handover: got %d connections, the state describes %d", len(taken), len(st.Conns))
	}
	s.counter = st.Counter

	// 2. Leave our own handover socket for the next generation.
	next, err := newHandover()
	if err != nil && !errors.Is(err, socketact.ErrNoManager) {
		return err
	}

	// 3. Serve: the connections taken over first, each with the bytes the
	// generation before had read and not answered, then the listeners.
	unread := 0
	for i, c := range taken {
		unread += len(st.Conns[i].Unread)
		s.add(c, st.Conns[i].Unread)
	}
	s.listen(lmap)
	fmt.Fprintf(os.Stderr, "keepconn gen=%s serving: took_over=%d unread_bytes=%d counter=%d\n", s.gen, len(taken), unread, st.Counter)
	if _, err := socketact.Notify("READY=1"); err != nil {
		return err
	}

	// 4. Until the end: hand everything over when the next generation
	// asks; stop on SIGTERM.
	var asks <-chan error
	if next != nil {
		asks = awaitTakeover(next)
	}
	handedOver := false
	var gone <-chan struct{}
	for {
		select {
		case err := <-asks:
			asks = nil
			if err != nil {
				// The next generation took our end out of the store and
				// went away before asking: leave a new one.
				fmt.Fprintf(os.Stderr, "keepconn gen=%s: the next generation left before asking (%v)\n", s.gen, err)
				if next, err = renewHandover(next); err != nil {
					return err
				}
				asks = awaitTakeover(next)
				continue
			}
			n, unread, err := s.handOver(next)
			if err != nil {
				return fmt.Errorf("handover: %w", err)
			}
			handedOver = true
			gone = awaitEnd(next)
			fmt.Fprintf(os.Stderr, "keepconn gen=%s handed over: conns=%d unread_bytes=%d counter=%d\n", s.gen, n, unread, s.counter)
		case <-gone:
			// The generation that took everything over died before we
			// were told to stop: zedr-run rolled it back and counts on us.
			// What it took died with it; serve again, with our state.
			gone = nil
			counter := s.counter
			lmap, err := socketact.Listeners()
			if err != nil {
				return err
			}
			s.listen(lmap)
			if next, err = renewHandover(next); err != nil {
				return err
			}
			asks = awaitTakeover(next)
			handedOver = false
			fmt.Fprintf(os.Stderr, "keepconn gen=%s serving again: the generation that took over is gone; counter=%d\n", s.gen, counter)
		case sig := <-sigs:
			if !handedOver {
				// No successor asked: the service stops. Answer what was
				// asked, close the connections, keep the state.
				n := s.closeAll()
				if err := writeState(s.state, savedState{Counter: s.counter}); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "keepconn gen=%s stopped by %v: closed conns=%d counter=%d\n", s.gen, sig, n, s.counter)
			}
			return nil
		}
	}
}
