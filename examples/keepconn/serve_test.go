//go:build linux

package main

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// TestQuiesceAtRequestBoundary: a connection taken over with unread bytes
// has them answered first; quiesce stops it with every whole request
// answered and keeps what was read and not answered, so that those bytes
// and what is still in the socket make up exactly what the client sent
// after its last answered request.
func TestQuiesceAtRequestBoundary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cl, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	cl.SetDeadline(deadline)
	conn.SetDeadline(deadline)

	s := &server{gen: "7", counter: 41, clients: map[*client]bool{}}
	s.add(conn, []byte("ECHO taken\nIN"))
	if _, err := cl.Write([]byte("CR\nINCR\nGEN\nECHO ha")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(cl)
	for _, want := range []string{"taken", "42", "43", "7"} {
		line, err := r.ReadString('\n')
		if err != nil || line != want+"\n" {
			t.Fatalf("answered %q, %v; want %q", line, err, want)
		}
	}
	stopped := s.quiesce()
	if len(stopped) != 1 {
		t.Fatalf("quiesce stopped %d connections, want 1", len(stopped))
	}
	unread := stopped[0].unread
	rest := make([]byte, len("ECHO ha")-len(unread))
	if _, err := io.ReadFull(conn, rest); err != nil {
		t.Fatalf("unread %q; reading the rest: %v", unread, err)
	}
	if got := string(unread) + string(rest); got != "ECHO ha" {
		t.Errorf("unread %q + still in the socket %q, want %q", unread, rest, "ECHO ha")
	}
	if s.counter != 43 {
		t.Errorf("counter=%d, want 43", s.counter)
	}
	if r.Buffered() != 0 {
		t.Errorf("answers after quiesce: %d bytes", r.Buffered())
	}
}
