package realservers

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"zedr-run/internal/loadgen"
)

// Loads for the servers that do not speak HTTP. Like internal/loadgen they
// use a fixed number of clients, count every failure by kind and stop when
// told.

// maxExamples bounds the example errors a Load keeps: enough to tell what
// failed, few enough to print.
const maxExamples = 10

// Load is clients calling one function again and again until Stop:
// requests made, failures by kind, a few example errors.
type Load struct {
	requests atomic.Int64
	mu       sync.Mutex
	failures map[string]int
	examples []string
	quit     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// StartLoad starts clients goroutines, each calling one(i, j) for its
// index i and its j-th request until Stop. one returns the failure's kind
// ("" for success) and its error.
func StartLoad(clients int, one func(i, j int) (kind string, err error)) *Load {
	l := &Load{failures: map[string]int{}, quit: make(chan struct{})}
	for i := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for j := 0; ; j++ {
				select {
				case <-l.quit:
					return
				default:
				}
				l.record(one(i, j))
			}
		}()
	}
	return l
}

func (l *Load) record(kind string, err error) {
	l.requests.Add(1)
	if kind == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[kind]++
	if len(l.examples) < maxExamples {
		l.examples = append(l.examples, err.Error())
	}
}

// Done is the number of requests made so far.
func (l *Load) Done() int { return int(l.requests.Load()) }

// Stop stops the clients, waits for them, and returns the requests made,
// the failures by kind and a few example errors. It may be called again.
func (l *Load) Stop() (requests int, failures map[string]int, examples []string) {
	l.stopOnce.Do(func() { close(l.quit) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Done(), l.failures, l.examples
}

// MemcacheLoad: clients that each open a new connection, set a key and get
// it back (MemcacheSetGet), again and again, so a moment with nobody
// accepting shows as refused. Failures are counted by loadgen.Classify.
func MemcacheLoad(addr string, clients int) *Load {
	return StartLoad(clients, func(i, j int) (string, error) {
		err := MemcacheSetGet(addr, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", j))
		if err != nil {
			return loadgen.Classify(err), err
		}
		return "", nil
	})
}

// ErrBadAnswer: the server answered, but not what the protocol says.
var ErrBadAnswer = errors.New("bad answer")

// MemcacheSetGet opens a connection to memcached at addr, sets key to
// value and gets it back, in memcached's text protocol.
func MemcacheSetGet(addr, key, value string) error {
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
	for _, want := range []string{"STORED", fmt.Sprintf("VALUE %s 0 %d", key, len(value)), value, "END"} {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line != "" {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if got := strings.TrimRight(line, "\r\n"); got != want {
			return fmt.Errorf("%w: memcached answered %q, want %q", ErrBadAnswer, got, want)
		}
	}
	return nil
}

// DNSQuery sends a query for www.zedr.test A with id on conn (UDP) and
// reads answers until the one with that id, which must be NOERROR with at
// least one record, all within timeout.
func DNSQuery(conn net.Conn, id uint16, timeout time.Duration) error {
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; QDCOUNT=1
	for _, label := range []string{"www", "zedr", "test"} {
		q = append(q, byte(len(label)))
		q = append(q, label...)
	}
	q = append(q, 0, 0, 1, 0, 1) // root; QTYPE=A QCLASS=IN
	conn.SetDeadline(time.Now().Add(timeout))
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
		if rcode, answers := buf[3]&0x0f, binary.BigEndian.Uint16(buf[6:]); rcode != 0 || answers == 0 {
			return fmt.Errorf("%w: rcode %d, %d answers", ErrBadAnswer, rcode, answers)
		}
		return nil
	}
}
