package e2e

import (
	"strconv"
	"syscall"
	"testing"

	"zedr-run/internal/loadgen"
)

// Guarantee: In transparent mode a new generation never changes the socket
// under the old one.
//
// The socket's O_NONBLOCK flag is shared by every generation that holds it.
// rawserver creates a blocking socket, binds and listens, sets O_NONBLOCK
// only later and drains its queue with accept-until-EAGAIN: if the new
// generation's bind made the shared socket blocking, the old one would
// block inside accept() (and report "listener lost O_NONBLOCK").

const nonblockRestarts = 20

func TestInterceptKeepsNonblockOfHolder(t *testing.T) {
	needIntercept(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePortNum(t))
	z := startZedr(t, "--intercept-bind", "--listen", "tcp:"+addr, "--ready", "listen", "--stop-timeout", "20s", "--",
		bin("rawserver"), "-listen", addr, "-nonblock-after-listen", "200ms")
	z.readyPID(1)
	z.waitLog(`rawserver: serving on`)
	load := startLoad(t, addr)
	waitRequests(t, load, 200)
	restartsUnderLoad(t, z, load, 2, nonblockRestarts)
	res := stopLoad(t, load, strconv.Itoa(nonblockRestarts)+" restarts of a server that sets O_NONBLOCK after listen()")
	if n := res.Failures[loadgen.Timeout]; n != 0 {
		t.Errorf("%d requests timed out", n)
	}
	if n := z.countLog(`listener lost O_NONBLOCK`); n != 0 {
		t.Errorf("an old generation found its listener made blocking %d times", n)
	}
	if n := z.countLog(`stop timeout: killing`); n != 0 {
		t.Errorf("%d generations were killed at the stop timeout", n)
	}
	if n := z.countLog(`msg="shared socket keeps the O_NONBLOCK flag`); n < nonblockRestarts {
		t.Errorf("the log said %d times that a new generation's blocking socket kept the holder's flag, want %d", n, nonblockRestarts)
	}
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("zedr-run exited %d after SIGTERM, want 0", code)
	}
}
