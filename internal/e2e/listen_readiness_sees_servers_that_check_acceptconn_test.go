package e2e

import (
	"strconv"
	"syscall"
	"testing"
)

// Guarantee: --ready listen sees servers that check SO_ACCEPTCONN.
//
// Some servers ask getsockopt(SO_ACCEPTCONN) after bind() and skip listen()
// when the socket already listens, which zedr-run's always does. In
// transparent mode the answer, on a held socket, is what the caller's own
// socket would say: not listening until this generation calls listen().
// So the server calls it, and --ready listen sees every generation ready.

func TestInterceptAcceptConnAnsweredPerGeneration(t *testing.T) {
	needIntercept(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePortNum(t))
	z := startZedr(t, "--intercept-bind", "--listen", "tcp:"+addr, "--ready", "listen", "--ready-timeout", "20s", "--",
		bin("rawserver"), "-listen", addr, "-skip-listen-if-listening")
	z.readyPID(1)
	load := startLoad(t, addr)
	waitRequests(t, load, 200)
	const restarts = 5
	restartsUnderLoad(t, z, load, 2, restarts)
	stopLoad(t, load, strconv.Itoa(restarts)+" restarts of a server that skips listen() when SO_ACCEPTCONN says it listens")
	if n := z.countLog(`listen skipped`); n != 0 {
		t.Errorf("%d generations skipped listen(): SO_ACCEPTCONN said the socket listened before they called it", n)
	}
	if n := z.countLog(`msg="generation ready" gen=`); n != restarts+1 {
		t.Errorf("%d generations ready, want %d", n, restarts+1)
	}
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("zedr-run exited %d after SIGTERM, want 0", code)
	}
}
