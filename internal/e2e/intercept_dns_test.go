package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
)

// TestInterceptDnsmasq: dnsmasq binds UDP and TCP on one port itself; it is
// restarted 10 times while dnsperf sends it 1000 queries a second. A query
// is lost only if a stopping generation had read it and not yet answered.
func TestInterceptDnsmasq(t *testing.T) {
	needIntercept(t)
	dnsmasq := needTool(t, "dnsmasq")
	dnsperf := needTool(t, "dnsperf")
	addr := freeTCPUDPAddr(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	z := startZedr(t, "--intercept-bind", "--listen", "udp:"+addr, "--listen", "tcp:"+addr, "--ready", "listen",
		"--", dnsmasq, "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address="+host, "--port="+port, "--address=/zedr.test/192.0.2.1",
		"--user=root", "--group=root", "--pid-file=")
	z.readyPID(1)
	z.waitLog(`msg="bind intercepted" gen=1 .*spec=udp:`)
	z.waitLog(`msg="bind intercepted" gen=1 .*spec=tcp:`)

	queries := filepath.Join(t.TempDir(), "queries")
	if err := os.WriteFile(queries, []byte("www.zedr.test A\nmail.zedr.test A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	perf := exec.Command(dnsperf, "-s", host, "-p", port, "-d", queries, "-l", "300", "-Q", "1000", "-t", "2")
	perf.Stdout, perf.Stderr = &out, &out
	if err := perf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { perf.Process.Kill(); perf.Wait() })
	for i := 1; i <= interceptRestarts; i++ {
		z.signal(syscall.SIGUSR2)
		z.readyPID(i + 1)
		z.waitLog(fmt.Sprintf(`msg="generation exited" gen=%d `, i))
	}
	perf.Process.Signal(syscall.SIGINT) // dnsperf prints its statistics
	perf.Wait()
	sent, lost := dnsperfCount(out.String(), "sent"), dnsperfCount(out.String(), "lost")
	t.Logf("dnsmasq: %d restarts under dnsperf: %d queries sent, %d completed, %d lost, %d interrupted (in flight when dnsperf stopped)",
		interceptRestarts, sent, dnsperfCount(out.String(), "completed"), lost, max(0, dnsperfCount(out.String(), "interrupted")))
	if sent < 100 {
		t.Fatalf("dnsperf sent %d queries:\n%s", sent, out.String())
	}
	if lost > interceptRestarts {
		t.Errorf("%d queries lost in %d restarts, more than one in flight per stopped generation:\n%s", lost, interceptRestarts, out.String())
	}
}

// dnsperfCount reads "Queries WHAT: N" from dnsperf's statistics, -1 if absent.
func dnsperfCount(out, what string) int {
	m := regexp.MustCompile(`Queries ` + what + `:\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// freeTCPUDPAddr returns a loopback address whose port is free for both TCP
// and UDP.
func freeTCPUDPAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		pc, err := net.ListenPacket("udp4", addr)
		l.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}
