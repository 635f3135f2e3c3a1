//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxLine bounds a request: a client cannot make the server buffer more.
const maxLine = 4096

// server serves the protocol on its listeners and clients. counter is the
// state that outlives generations.
type server struct {
	gen   string
	state *os.File // the memfd in the store

	mu      sync.Mutex
	counter int64
	clients map[*client]bool
	stopped []*client // stopped at a request boundary, to hand over

	listeners []net.Listener
	accepting sync.WaitGroup
	serving   sync.WaitGroup
}

// client is one connection. Its reader reads pending (the bytes the
// generation before had read and not answered) before the socket.
type client struct {
	conn    net.Conn
	pending []byte
	r       *bufio.Reader
	stop    atomic.Bool
	unread  []byte // once stopped: read from the socket, not answered
}

func (c *client) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.conn.Read(p)
}

func (s *server) add(conn net.Conn, unread []byte) {
	c := &client{conn: conn, pending: unread}
	c.r = bufio.NewReaderSize(c, maxLine)
	s.mu.Lock()
	s.clients[c] = true
	s.mu.Unlock()
	s.serving.Add(1)
	go s.serve(c)
}

func (s *server) listen(lmap map[string][]net.Listener) {
	for _, ls := range lmap {
		for _, l := range ls {
			s.listeners = append(s.listeners, l)
			s.accepting.Add(1)
			go func() {
				defer s.accepting.Done()
				for {
					conn, err := l.Accept()
					if err != nil {
						return // closed by stopAccepting
					}
					s.add(conn, nil)
				}
			}()
		}
	}
}

// serve answers c's requests until the client goes away or c.stop: then
// it stops at a request boundary (the request in progress answered) and
// keeps what it read and did not answer in c.unread.
func (s *server) serve(c *client) {
	defer s.serving.Done()
	for {
		if c.stop.Load() {
			s.park(c, nil)
			return
		}
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && c.stop.Load() {
				s.park(c, line)
				return
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				c.conn.Write([]byte("ERR line too long\n"))
			}
			s.drop(c)
			return
		}
		if _, err := c.conn.Write(append(s.answer(line), '\n')); err != nil {
			s.drop(c)
			return
		}
	}
}

// park records c as stopped, with partial (a request read in part) and
// whatever else was read ahead as its unread bytes.
func (s *server) park(c *client, partial []byte) {
	unread := append([]byte(nil), partial...)
	ahead, _ := c.r.Peek(c.r.Buffered())
	unread = append(unread, ahead...)
	c.unread = append(unread, c.pending...)
	s.mu.Lock()
	delete(s.clients, c)
	s.stopped = append(s.stopped, c)
	s.mu.Unlock()
}

func (s *server) drop(c *client) {
	c.conn.Close()
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// answer returns the answer to one request, without the newline, in a new
// slice.
func (s *server) answer(line []byte) []byte {
	line = bytes.TrimRight(line, "\r\n")
	cmd, arg, _ := bytes.Cut(line, []byte(" "))
	switch string(cmd) {
	case "INCR":
		s.mu.Lock()
		s.counter++
		n := s.counter
		s.mu.Unlock()
		return strconv.AppendInt(nil, n, 10)
	case "GET":
		s.mu.Lock()
		n := s.counter
		s.mu.Unlock()
		return strconv.AppendInt(nil, n, 10)
	case "ECHO":
		return append([]byte(nil), arg...) // arg is the reader's buffer
	case "GEN":
		return []byte(s.gen)
	}
	return fmt.Appendf(nil, "ERR unknown command %q", cmd)
}

// aLongTimeAgo is a read deadline that wakes a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

// quiesce stops accepting, then stops every client at a request boundary,
// and returns them with their unread bytes. Nothing reads any of them
// afterwards.
func (s *server) quiesce() []*client {
	for _, l := range s.listeners {
		l.Close() // our copy: the socket itself stays open in zedr-run
	}
	s.listeners = nil
	s.accepting.Wait()
	s.mu.Lock()
	for c := range s.clients {
		c.stop.Store(true)
		c.conn.SetReadDeadline(aLongTimeAgo)
	}
	s.mu.Unlock()
	s.serving.Wait()
	stopped := s.stopped
	s.stopped = nil
	for _, c := range stopped {
		c.conn.SetReadDeadline(time.Time{})
	}
	return stopped
}

// handOver gives everything to the next generation on uc: the state, with
// each connection's unread bytes, written to the memfd, then the
// connections, in the same order, then DONE.
func (s *server) handOver(uc *net.UnixConn) (conns, unread int, err error) {
	stopped := s.quiesce()
	st := savedState{Counter: s.counter}
	for _, c := range stopped {
		st.Conns = append(st.Conns, savedConn{Unread: c.unread})
		unread += len(c.unread)
	}
	if err := writeState(s.state, st); err != nil {
		return 0, 0, err
	}
	for i, c := range stopped {
		if err := pass(uc, i, c.conn); err != nil {
			return i, unread, fmt.Errorf("pass connection %d: %w", i, err)
		}
		c.conn.Close() // the next generation holds it now
	}
	if _, err := uc.Write([]byte(msgDone)); err != nil {
		return len(stopped), unread, err
	}
	return len(stopped), unread, nil
}

// closeAll stops serving and closes every connection, each after the
// request in progress is answered.
func (s *server) closeAll() int {
	stopped := s.quiesce()
	for _, c := range stopped {
		c.conn.Close()
	}
	return len(stopped)
}
