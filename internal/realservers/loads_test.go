package realservers

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

// fakeMemcached answers every connection's set and get with answer's lines.
func fakeMemcached(t *testing.T, answer func(key, value string) string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				set, _ := r.ReadString('\n')
				value, _ := r.ReadString('\n')
				r.ReadString('\n') // get
				var key string
				fmt.Sscanf(set, "set %s", &key)
				fmt.Fprint(conn, answer(key, strings.TrimRight(value, "\r\n")))
			}()
		}
	}()
	return l.Addr().String()
}

func TestMemcacheSetGet(t *testing.T) {
	good := fakeMemcached(t, func(k, v string) string {
		return fmt.Sprintf("STORED\r\nVALUE %s 0 %d\r\n%s\r\nEND\r\n", k, len(v), v)
	})
	if err := MemcacheSetGet(good, "k1", "v1"); err != nil {
		t.Errorf("set+get against a server that stores: %v", err)
	}
	bad := fakeMemcached(t, func(k, v string) string { return "STORED\r\nEND\r\n" })
	if err := MemcacheSetGet(bad, "k1", "v1"); !errors.Is(err, ErrBadAnswer) {
		t.Errorf("set+get against a server that lost the key: %v, want ErrBadAnswer", err)
	}
}

func TestMemcacheLoadCountsAndStops(t *testing.T) {
	addr := fakeMemcached(t, func(k, v string) string { return "NOT_STORED\r\n" })
	l := MemcacheLoad(addr, 2)
	deadline := time.Now().Add(10 * time.Second)
	for l.Done() < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	n, failures, examples := l.Stop()
	if n < 10 || failures[loadgen.Other] != n || len(examples) == 0 || len(examples) > maxExamples {
		t.Errorf("load against a refusing server: %d requests, failures %v, %d examples", n, failures, len(examples))
	}
	if again, _, _ := l.Stop(); again != n {
		t.Errorf("a second Stop says %d requests, the first %d", again, n)
	}
}

// fakeDNS answers each query with its id, rcode and answers, after a late
// answer with another id.
func fakeDNS(t *testing.T, rcode byte, answers byte) net.Conn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			late := append([]byte{buf[0] ^ 0xff, buf[1]}, make([]byte, 10)...)
			pc.WriteTo(late, from)
			a := append([]byte{}, buf[:n]...)
			a[2], a[3], a[6], a[7] = 0x81, 0x80|rcode, 0, answers
			pc.WriteTo(a, from)
		}
	}()
	conn, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestDNSQuery(t *testing.T) {
	if err := DNSQuery(fakeDNS(t, 0, 1), 7, 5*time.Second); err != nil {
		t.Errorf("query answered with one record: %v", err)
	}
	if err := DNSQuery(fakeDNS(t, 3, 0), 7, 5*time.Second); !errors.Is(err, ErrBadAnswer) {
		t.Errorf("query answered NXDOMAIN: %v, want ErrBadAnswer", err)
	}
}
