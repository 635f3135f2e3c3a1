package main

import (
	"math/rand/v2"
	"net"
	"time"

	"zedr-run/internal/loadgen"
	"zedr-run/internal/realservers"
)

// Loads for the servers that do not speak HTTP: memcached's text protocol
// and DNS over UDP, internal/realservers' loads seen as a load.

// protoLoad is a realservers.Load, with conns to close when it stops.
type protoLoad struct {
	l     *realservers.Load
	conns []net.Conn
}

func (p protoLoad) done() int { return p.l.Done() }

func (p protoLoad) stop() (int, map[string]int, []string) {
	defer func() {
		for _, conn := range p.conns {
			conn.Close()
		}
	}()
	return p.l.Stop()
}

const memcacheClients = 16

// loadMemcache: each request is a new connection that sets a key and gets
// it back, so a moment with nobody accepting shows as refused.
func loadMemcache(addr string) (load, error) {
	return protoLoad{l: realservers.MemcacheLoad(addr, memcacheClients)}, nil
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
	conns := make([]net.Conn, dnsClients)
	for i := range conns {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return nil, err
		}
		conns[i] = conn
	}
	l := realservers.StartLoad(dnsClients, func(i, _ int) (string, error) {
		err := realservers.DNSQuery(conns[i], uint16(rand.Uint32()), dnsTimeout)
		if err == nil {
			return "", nil
		}
		if kind := loadgen.Classify(err); kind != loadgen.Timeout {
			return kind, err
		}
		return lost, err // UDP: no answer in time
	})
	return protoLoad{l: l, conns: conns}, nil
}
