package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Guarantee: A stopped server's forked handlers finish their requests.
//
// A server that forks a process per connection (busybox httpd, inetd-style
// servers) exits on the stop signal while its handlers still answer
// requests. As systemd's KillMode=mixed, the stop signal goes to the main
// process only, and what is left of the generation gets the rest of
// --stop-timeout to finish on its own before it is killed. The load asks a
// CGI script that takes a while, so that every stop has handlers in flight.
// (Before, what was left got the stop signal as soon as the main process
// exited: 80 of 513 requests failed over 5 restarts.)

func TestForkedHandlersFinishAfterStop(t *testing.T) {
	needIntercept(t)
	busybox := needTool(t, "busybox")
	root := webRoot(t)
	if err := os.Mkdir(filepath.Join(root, "cgi-bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeScript(t, filepath.Join(root, "cgi-bin", "slow"), `sleep 0.2
printf 'Content-Type: text/plain\r\n\r\nslow answer\n'
`)
	port := freePortNum(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	z := startZedr(t, "--intercept-bind", "--listen", "tcp:"+addr, "--ready", "listen", "--stop-timeout", "20s", "--",
		busybox, "httpd", "-f", "-p", addr, "-h", root)
	z.readyPID(1)
	cfg := loadConfig(addr)
	cfg.Path = "/cgi-bin/slow"
	load := startLoadWith(t, cfg)
	waitRequests(t, load, 50)
	const restarts = 5
	for i := range restarts {
		z.signal(syscall.SIGUSR2)
		z.readyPID(i + 2)
		z.waitLog(`msg="generation exited" gen=` + strconv.Itoa(i+1) + ` `)
		waitRequests(t, load, 20)
	}
	res := load.Stop()
	t.Logf("%d restarts of busybox httpd answering a slow CGI: %v", restarts, res)
	// busybox's main process has no graceful stop: a connection it has
	// accepted and not yet handed to a handler when the stop signal comes is
	// reset, at most one per restart. The handlers' requests (8 in flight at
	// every stop) are never lost.
	if res.Failed() > restarts {
		t.Errorf("%d requests failed over %d restarts, more than the one per restart busybox's main process can hold: %v; examples: %q",
			res.Failed(), restarts, res.Failures, res.Errors)
	}
	if n := z.countLog(`stop timeout: killing`); n != 0 {
		t.Errorf("%d generations were killed at the stop timeout", n)
	}
	z.signal(syscall.SIGTERM)
	z.wait()
}
