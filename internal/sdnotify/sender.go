package sdnotify

import (
	"fmt"
	"net"
	"strings"
	"sync"
)

// Sender sends sd_notify messages to one NOTIFY_SOCKET address: a path, or
// "@name" for an abstract socket. It keeps its connection between sends.
// It is safe for concurrent use.
type Sender struct {
	addr string

	mu   sync.Mutex
	conn *net.UnixConn
}

// NewSender returns a Sender for addr. With addr "" (no NOTIFY_SOCKET) it
// sends nothing.
func NewSender(addr string) *Sender {
	return &Sender{addr: addr}
}

// Send sends the lines, joined by newlines, as one sd_notify message
// ("READY=1", "STATUS=serving"). It returns nil without sending when the
// Sender has no address, and otherwise the error of the last attempt: a
// failed send closes the connection and dials once more, since the
// manager may have re-created its socket.
func (s *Sender) Send(lines ...string) error {
	return s.send([]byte(strings.Join(lines, "\n")), nil)
}

// Send sends one sd_notify message to addr, as a Sender would, and closes
// its connection.
func Send(addr string, lines ...string) error {
	s := NewSender(addr)
	defer s.Close()
	return s.Send(lines...)
}

func (s *Sender) send(msg, oob []byte) error {
	if s.addr == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if s.conn == nil {
			conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.addr, Net: "unixgram"})
			if err != nil {
				return err // net's error names the address
			}
			s.conn = conn
		}
		err := write(s.conn, msg, oob)
		if err == nil {
			return nil
		}
		s.conn.Close()
		s.conn = nil
		if attempt == 1 {
			return fmt.Errorf("send to %s: %w", s.addr, err)
		}
	}
}

// Addr returns the address the Sender sends to ("" for none).
func (s *Sender) Addr() string { return s.addr }

// Close closes the connection, if any. A later Send dials again.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
