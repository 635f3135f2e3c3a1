package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"zedr-run/internal/loadgen"
)

// Loads for the servers that do not speak HTTP: memcached's text protocol
// and DNS over UDP. Like internal/loadgen they use a fixed number of
// clients, count every failure by kind and stop when told.

// counter is what the protocol loads share: requests made, failures by
// kind, a few example errors.
type counter struct {
	requests atomic.Int64
	mu       sync.Mutex
	failures map[string]int
	examples []string
	quit     chan struct{}
	wg       sync.WaitGroup
}

func newCounter() *counter { return &counter{failures: map[string]int{}, quit: make(chan struct{})} }

func (c *counter) done() int { return int(c.requests.Load()) }

func (c *counter) record(kind string, err error) {
	c.requests.Add(1)
	if kind == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures[kind]++
	if len(c.examples) < 10 {
		c.examples = append(c.examples, err.Error())
	}
}

func (c *counter) stop() (int, map[string]int, []string) {
	close(c.quit)
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done(), c.failures, c.examples
}

func (c *counter) run(clients int, one func(i int)) {
	for i := range clients {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for {
				select {
				case <-c.quit:
					return
				default:
				}
				one(i)
			}
		}()
	}
}

const memcacheClients = 16

// loadMemcache: each request is a new connection that sets a key and gets
// it back, so a moment with nobody accepting shows as refused.
func loadMemcache(addr string) (load, error) {
	c := newCounter()
	c.run(memcacheClients, func(i int) {
		err := memcacheSetGet(addr, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", rand.Int()))
		kind := ""
		if err != nil {
			kind = loadgen.Classify(err)
		}
		c.record(kind, err)
	})
	return c, nil
}

var errBadAnswer = errors.New("bad answer")

func memcacheSetGet(addr, key, value string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "set %s 0 0 %d\r\n%s\r\nget %s\r\n", key, len(value), value, key); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	want := []string{"STORED", fmt.Sprintf("VALUE %s 0 %d", key, len(value)), value, "END"}
	for _, w := range want {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line != "" {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if got := strings.TrimRight(line, "\r\n"); got != w {
			return fmt.Errorf("%w: %q, want %q", errBadAnswer, got, w)
		}
	}
	return nil
}

const (
	dnsClients = 8
	// dnsTimeout: a query with no answer by then counts as lost. Far longer
	// than a loopback answer takes, short enough not to stall a client.
	dnsTimeout = time.Second
	lost       = "lost"
)

// loadDNS: each client sends one query for www.zedr.test A at a time over
// UDP and waits for the answer with its id.
func loadDNS(addr string) (load, error) {
	c := newCounter()
	conns := make([]net.Conn, dnsClients)
	for i := range conns {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return nil, err
		}
		conns[i] = conn
	}
	c.run(dnsClients, func(i int) {
		err := dnsQuery(conns[i])
		kind := ""
		var ne net.Error
		switch {
		case err == nil:
		case errors.Is(err, syscall.ECONNREFUSED):
			kind = loadgen.Refused
		case errors.As(err, &ne) && ne.Timeout():
			kind = lost
		default:
			kind = loadgen.Other
		}
		c.record(kind, err)
	})
	return closing{c, conns}, nil
}

type closing struct {
	*counter
	conns []net.Conn
}

func (c closing) stop() (int, map[string]int, []string) {
	defer func() {
		for _, conn := range c.conns {
			conn.Close()
		}
	}()
	return c.counter.stop()
}

// dnsQuery sends a query for www.zedr.test A and reads answers until the
// one with its id, which must be NOERROR with one answer.
func dnsQuery(conn net.Conn) error {
	id := uint16(rand.Uint32())
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; QDCOUNT=1
	for _, label := range []string{"www", "zedr", "test"} {
		q = append(q, byte(len(label)))
		q = append(q, label...)
	}
	q = append(q, 0, 0, 1, 0, 1) // root; QTYPE=A QCLASS=IN
	conn.SetDeadline(time.Now().Add(dnsTimeout))
	if _, err := conn.Write(q); err != nil {
		return err
	}
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return err
		}
		if n < 12 || binary.BigEndian.Uint16(buf) != id {
			continue // a late answer to an earlier query
		}
		if rcode := buf[3] & 0x0f; rcode != 0 || binary.BigEndian.Uint16(buf[6:]) == 0 {
			return fmt.Errorf("%w: rcode %d, %d answers", errBadAnswer, rcode, binary.BigEndian.Uint16(buf[6:]))
		}
		return nil
	}
}
