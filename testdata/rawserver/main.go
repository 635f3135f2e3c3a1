// Command rawserver is a test server for transparent mode
// (zedr-run --intercept-bind) that makes its listening socket with raw
// system calls, in the order some real servers do, to reproduce the
// mechanisms that break a naive interception:
//
//	rawserver -listen 127.0.0.1:8080 [-nonblock-after-listen D] [-skip-listen-if-listening] [-config PATH]
//
// It creates a blocking IPv4 stream socket, bind()s it and listen()s on it,
// then serves HTTP/1.1 from one thread: poll() the listener, accept() until
// EAGAIN, answer each connection in turn ("generation=G pid=P\n").
//
//   - -nonblock-after-listen D: the socket is blocking at bind() and
//     listen(); O_NONBLOCK is set D after listen() (a server's later setup
//     step). While serving, each time it finds its listener blocking again it
//     writes "listener lost O_NONBLOCK" to stderr: someone changed the shared
//     file under it, and its accept-until-EAGAIN loop would block in accept().
//     Without the flag the socket is made non-blocking before bind().
//   - -skip-listen-if-listening: after bind() it asks
//     getsockopt(SO_ACCEPTCONN) and skips listen() when the socket already
//     listens (it then writes "listen skipped" to stderr).
//   - -config PATH: after its socket is open, it reads PATH; unless the file
//     says "ok" it exits 1 ("bad config") before serving: a broken deployment
//     that fails right after listen().
//
// SIGTERM stops it gracefully: it stops accepting, answers what it accepted,
// exits 0.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "IPv4 address to bind")
	nonblockAfter := flag.Duration("nonblock-after-listen", -1, "set O_NONBLOCK this long after listen() (negative: before bind())")
	skipListen := flag.Bool("skip-listen-if-listening", false, "skip listen() when getsockopt(SO_ACCEPTCONN) says the socket listens")
	config := flag.String("config", "", "a file read after the socket is open; anything but \"ok\" is fatal")
	flag.Parse()
	if err := run(*listen, *nonblockAfter, *skipListen, *config); err != nil {
		fmt.Fprintln(os.Stderr, "rawserver:", err)
		os.Exit(1)
	}
}

func run(listen string, nonblockAfter time.Duration, skipListen bool, config string) error {
	var stop atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; stop.Store(true) }()

	ap, err := netip.ParseAddrPort(listen)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("-listen %q: want an IPv4 address and port", listen)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if nonblockAfter < 0 {
		if err := unix.SetNonblock(fd, true); err != nil {
			return err
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return fmt.Errorf("bind %s: %w", listen, err)
	}
	listening := 0
	if skipListen {
		if listening, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil {
			return fmt.Errorf("SO_ACCEPTCONN: %w", err)
		}
	}
	if listening != 0 {
		fmt.Fprintln(os.Stderr, "rawserver: listen skipped: the socket already listens")
	} else if err := unix.Listen(fd, 128); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if config != "" {
		b, err := os.ReadFile(config)
		if err != nil || strings.TrimSpace(string(b)) != "ok" {
			return fmt.Errorf("bad config %s: %q %v", config, b, err)
		}
	}
	if nonblockAfter >= 0 {
		time.Sleep(nonblockAfter)
		if err := unix.SetNonblock(fd, true); err != nil {
			return err
		}
	}
	ident := fmt.Sprintf("generation=%s pid=%d\n", os.Getenv("ZEDR_GENERATION"), os.Getpid())
	fmt.Fprintf(os.Stderr, "rawserver: serving on %s: %s", listen, ident)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for !stop.Load() {
		pfd[0].Revents = 0
		if _, err := unix.Poll(pfd, 100); err != nil && err != unix.EINTR {
			return fmt.Errorf("poll: %w", err)
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			continue
		}
		for { // accept until EAGAIN, as event-loop servers do
			if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK == 0 {
				fmt.Fprintln(os.Stderr, "rawserver: listener lost O_NONBLOCK")
			}
			nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err == unix.EAGAIN || err == unix.EINTR {
				break
			}
			if err != nil {
				return fmt.Errorf("accept: %w", err)
			}
			answer(nfd, ident)
		}
	}
	fmt.Fprintln(os.Stderr, "rawserver: stopped")
	return nil
}

// answer reads one request's head and answers it, then closes the connection.
func answer(fd int, body string) {
	defer unix.Close(fd)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	var req []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(req), "\r\n\r\n") && len(req) < 64<<10 {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue // a signal (Go's preemption SIGURG): a socket with SO_RCVTIMEO is not restarted
		}
		if err != nil || n == 0 {
			return
		}
		req = append(req, buf[:n]...)
	}
	resp := []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body))
	for len(resp) > 0 {
		n, err := unix.Write(fd, resp)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		resp = resp[n:]
	}
}
