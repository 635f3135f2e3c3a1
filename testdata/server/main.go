// Command server is zedr-run's test and demo server: a real HTTP server that
// takes its sockets by socket activation (socketact's child side).
//
//	go build -o server ./testdata/server
//	zedr-run --listen tcp::8080 -- ./server -notify
//	systemd-socket-activate -l 127.0.0.1:18080 ./server
//
// Sockets: HTTP on every listening stream socket from LISTEN_FDS, and a UDP
// (or unixgram) echo on every datagram socket that prefixes each reply with
// the identity line. With -listen ADDR (repeatable, or a comma list such as
// :8080,:8081) it calls net.Listen("tcp", ADDR) itself instead, for running
// directly or under zedr-run's transparent mode. Without LISTEN_FDS it also
// takes the sockets of Perl's Server::Starter ($SERVER_STARTER_PORT).
// With -listen, unix:PATH listens on a unix socket (removed at exit, as Go
// does) and udp:ADDR answers UDP.
//
// HTTP: / answers "generation=G pid=P worker=W\n" (G from $ZEDR_GENERATION,
// W from $ZEDR_WORKER, "-" when unset; with -config FILE, " config=LINE"
// follows, the first line of FILE as read at start); /env prints the LISTEN_*,
// NOTIFY_SOCKET, ZEDR_*, EINHORN_*, SERVER_STARTER_PORT and NGINX variables;
// /fds lists the open fds as "3 socket:[1234]"; /slow?d=500ms waits d, then
// answers like /.
//
// With -fdstore it keeps a counter and connections (/keep) in the fd store
// (fdstore.go).
//
// Built with -tags tableflip it also takes -tableflip PIDFILE: the -listen
// sockets then come from cloudflare/tableflip's Upgrader, SIGHUP upgrades
// (the process starts its successor itself, which inherits the sockets), and
// the process stops as on SIGTERM once its successor is ready
// (tableflip.go). The benchmark's fastest peer, with the same handler and
// drain as every other build.
//
// With -dial-from ADDR it connects to its first listener from ADDR (a client
// socket bound to a fixed port before connect()) and keeps the connection.
//
// Flags: -start-delay D waits D before serving (the sockets are held and
// connections queue meanwhile; with -bind-late and -listen it binds only
// after the delay, as most servers do after their setup); -notify sends READY=1 and STATUS=serving
// after that, and STOPPING=1 when stopping; -status-lines N sends N long
// STATUS= lines once serving (to flood zedr-run's log); -drain D bounds the
// graceful shutdown (default 10s); -keepalive-grace D is how long it keeps
// an idle keep-alive connection open for one last request answered with
// "Connection: close" (default 1s, see drainHTTP); -plain-shutdown stops with net/http's
// Server.Shutdown alone instead of drainHTTP (to measure what a server
// without that drain loses); -mode is one of
//
//	normal        serve (the default)
//	exit          exit 3 right after the start delay, before serving: a broken binary
//	never-ready   never serve, never notify, wait to be stopped
//	ignore-term   ignore SIGTERM and keep serving
//	crash-after=D serve, then exit 4 after D
//
// With -get URL it is a probe instead of a server: it fetches URL and exits
// 0 on a 200 answer, 1 otherwise (an exec: readiness probe or --check for a
// scratch image, which has no curl and no shell).
//
// SIGTERM and SIGINT stop it gracefully: stop accepting, finish in-flight
// requests (up to -drain), exit 0 (drainHTTP). SIGQUIT exits 0 at once. It logs one line
// to stderr at start and one at exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/socketact"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	*l = append(*l, strings.Split(s, ",")...)
	return nil
}

var (
	listen     listFlag
	startDelay = flag.Duration("start-delay", 0, "wait `D` before serving")
	notify     = flag.Bool("notify", false, "send READY=1, STATUS=serving and STOPPING=1 on $NOTIFY_SOCKET")
	mode       = flag.String("mode", "normal", "normal, exit, never-ready, ignore-term or crash-after=D")
	bindLate   = flag.Bool("bind-late", false, "with -listen: bind after the start delay, not before")
	drain      = flag.Duration("drain", 10*time.Second, "how long a graceful stop waits for in-flight requests")
	keepGrace  = flag.Duration("keepalive-grace", defaultKeepAliveGrace, "in a graceful stop, how long an idle keep-alive connection may stay open for one more request, answered with Connection: close")
	plainStop  = flag.Bool("plain-shutdown", false, "stop with http.Server.Shutdown alone, without drainHTTP (loses the requests of connections accepted just before the stop)")
	fdstore    = flag.Bool("fdstore", false, "keep a counter and /keep connections in the fd store (see fdstore.go)")
	config     = flag.String("config", "", "read `FILE` at start (exit 1 if it cannot) and answer with its first line")
	dialFrom   = flag.String("dial-from", "", "once serving, connect to the first listener from `ADDR`, a fixed local address bound before connect() (a client socket), and keep the connection")
	chatter    = flag.Int("status-lines", 0, "once serving, send `N` long STATUS= lines on $NOTIFY_SOCKET (a chatty child: N lines in zedr-run's log)")
	identity   string
)

var getURL = flag.String("get", "", "be a probe: GET `URL`, exit 0 on 200")

// probe fetches url and says 0 on a 200 answer, 1 otherwise.
func probe(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "probe: %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}

func main() {
	flag.Var(&listen, "listen", "listen on `ADDR` itself instead of using LISTEN_FDS (repeatable, comma list)")
	flag.Parse()
	if *getURL != "" {
		os.Exit(probe(*getURL))
	}
	hand, err := newHandoff()
	if err != nil {
		exit(2, "%v", err)
	}
	var handExit <-chan struct{} // nil: no handoff, never
	if hand != nil {
		if len(listen) == 0 {
			exit(2, "-tableflip needs -listen ADDR")
		}
		listenTCP = hand.Listen
		handExit = hand.Exit()
	}
	identity = fmt.Sprintf("generation=%s pid=%d worker=%s", envOr("ZEDR_GENERATION"), os.Getpid(), envOr("ZEDR_WORKER"))
	if *config != "" {
		b, err := os.ReadFile(*config)
		if err != nil {
			exit(1, "%v", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		identity += " config=" + line
	}
	crashAfter, err := parseMode(*mode)
	if err != nil {
		exit(2, "%v", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	if *mode == "ignore-term" {
		signal.Ignore(syscall.SIGTERM)
	}
	late := *bindLate && len(listen) > 0
	if late {
		wait(*startDelay, sigs)
	}
	listeners, conns, err := sockets()
	if err != nil {
		exit(1, "%v", err)
	}
	logf("serving %d sockets", len(listeners)+len(conns))
	if *dialFrom != "" && len(listeners) > 0 {
		if err := dialFromFixed(*dialFrom, listeners[0].Addr().String()); err != nil {
			exit(1, "dial from %s: %v", *dialFrom, err)
		}
		logf("connected to %s from %s", listeners[0].Addr(), *dialFrom)
	}
	if !late {
		wait(*startDelay, sigs)
	}
	switch *mode {
	case "exit":
		exit(3, "mode exit")
	case "never-ready":
		exit(0, "%s while never ready", signame(<-sigs))
	}

	if *fdstore {
		if err := useFDStore(); err != nil {
			exit(1, "fd store: %v", err)
		}
	}
	var busy connCount // the open connections, and which are not idle
	srv := &http.Server{Handler: busy.closing(handler()), ConnState: busy.track}
	var serving sync.WaitGroup
	for _, l := range listeners {
		serving.Go(func() { srv.Serve(l) })
	}
	for _, pc := range conns {
		go echo(pc)
	}
	if *notify {
		if _, err := socketact.Notify("READY=1\nSTATUS=serving"); err != nil {
			logf("%v", err)
		}
	}
	if *notify {
		go pingWatchdog(func() {
			for _, l := range listeners {
				l.Close()
			}
		})
	}
	if hand != nil {
		if err := hand.Ready(); err != nil {
			exit(1, "%v", err)
		}
	}
	for i := range *chatter {
		socketact.Notify(fmt.Sprintf("STATUS=chatter %d of %d %s", i+1, *chatter, strings.Repeat("x", 400)))
	}
	var crash <-chan time.Time
	if crashAfter > 0 {
		crash = time.After(crashAfter)
	}
	why := ""
	select {
	case <-crash:
		exit(4, "crash after %v", crashAfter)
	case <-handExit:
		why = "successor ready"
	case sig := <-sigs:
		if sig == syscall.SIGQUIT {
			exit(0, "%s", signame(sig))
		}
		why = signame(sig)
	}
	if *notify {
		socketact.Notify("STOPPING=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	how, done := "drain", "drained"
	if *plainStop {
		how, done = "shutdown", "shut down"
		err = srv.Shutdown(ctx)
	} else {
		err = drainHTTP(ctx, srv, listeners, &serving, &busy)
	}
	for _, pc := range conns {
		pc.Close()
	}
	if err != nil {
		exit(0, "%s, %s cut short: %v", why, how, err)
	}
	exit(0, "%s, %s", why, done)
}

// handoff hands the listening sockets to a successor process the server
// starts itself: cloudflare/tableflip's Upgrader (tableflip.go).
type handoff interface {
	Listen(network, addr string) (net.Listener, error)
	Ready() error          // serving: the predecessor may stop
	Exit() <-chan struct{} // closed once the successor is ready
}

// newHandoff returns the handoff the flags ask for, or nil. The default
// build has none; tableflip.go replaces it in a build with -tags tableflip.
var newHandoff = func() (handoff, error) { return nil, nil }

// listenTCP listens on a -listen TCP address.
var listenTCP = net.Listen

// wait waits d, the start delay; a stop signal meanwhile exits.
func wait(d time.Duration, sigs <-chan os.Signal) {
	if d <= 0 {
		return
	}
	select {
	case <-time.After(d):
	case sig := <-sigs:
		exit(0, "%s during start delay", signame(sig))
	}
}

func parseMode(m string) (time.Duration, error) {
	switch m {
	case "normal", "exit", "never-ready", "ignore-term":
		return 0, nil
	}
	if d, ok := strings.CutPrefix(m, "crash-after="); ok {
		if dur, err := time.ParseDuration(d); err == nil && dur > 0 {
			return dur, nil
		}
	}
	return 0, fmt.Errorf("bad -mode %q: want normal, exit, never-ready, ignore-term or crash-after=DURATION", m)
}

// kept holds the -dial-from connection open for the server's life.
var kept net.Conn

// dialFromFixed connects to addr from the local address from (bind, then
// connect), as a client that needs a fixed source port does.
func dialFromFixed(from, addr string) error {
	local, err := net.ResolveTCPAddr("tcp", from)
	if err != nil {
		return err
	}
	kept, err = (&net.Dialer{LocalAddr: local}).Dial("tcp", addr)
	return err
}

// sockets returns the listeners from -listen, or else the passed sockets.
func sockets() ([]net.Listener, []net.PacketConn, error) {
	var ls []net.Listener
	if len(listen) > 0 {
		var pcs []net.PacketConn
		for _, addr := range listen {
			switch {
			case strings.HasPrefix(addr, "udp:"):
				pc, err := net.ListenPacket("udp", strings.TrimPrefix(addr, "udp:"))
				if err != nil {
					return nil, nil, err
				}
				pcs = append(pcs, pc)
				continue
			case strings.HasPrefix(addr, "unix:"):
				l, err := net.Listen("unix", strings.TrimPrefix(addr, "unix:"))
				if err != nil {
					return nil, nil, err
				}
				ls = append(ls, l)
				continue
			}
			l, err := listenTCP("tcp", addr)
			if err != nil {
				return nil, nil, err
			}
			ls = append(ls, l)
		}
		return ls, pcs, nil
	}
	lmap, err := socketact.Listeners()
	if err != nil {
		return nil, nil, err
	}
	pmap, err := socketact.PacketConns()
	if err != nil {
		return nil, nil, err
	}
	for _, l := range lmap {
		ls = append(ls, l...)
	}
	var pcs []net.PacketConn
	for _, p := range pmap {
		pcs = append(pcs, p...)
	}
	if len(ls)+len(pcs) == 0 && os.Getenv("SERVER_STARTER_PORT") != "" {
		ls, err = serverStarterListeners(os.Getenv("SERVER_STARTER_PORT"))
		if err != nil {
			return nil, nil, err
		}
	}
	if len(ls)+len(pcs) == 0 {
		return nil, nil, errors.New("no sockets: run under zedr-run, systemd or start_server, or pass -listen ADDR")
	}
	return ls, pcs, nil
}

// serverStarterListeners takes the listeners of SERVER_STARTER_PORT, as
// Server::Starter sets it: "127.0.0.1:8080=3;9090=4;/run/app.sock=5".
func serverStarterListeners(v string) ([]net.Listener, error) {
	var ls []net.Listener
	for _, ent := range strings.Split(v, ";") {
		i := strings.LastIndexByte(ent, '=')
		fd, err := strconv.Atoi(ent[i+1:])
		if i < 0 || err != nil || fd < 0 {
			return nil, fmt.Errorf("SERVER_STARTER_PORT=%q: entry %q is not ADDRESS=FD", v, ent)
		}
		l, err := net.FileListener(os.NewFile(uintptr(fd), ent[:i]))
		if err != nil {
			return nil, fmt.Errorf("SERVER_STARTER_PORT entry %q: %w", ent, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, identity)
	})
	mux.HandleFunc("/keep", keepHandler)
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := os.Environ()
		sort.Strings(env)
		for _, kv := range env {
			if shownVar(kv) {
				fmt.Fprintln(w, kv)
			}
		}
	})
	mux.HandleFunc("/fds", func(w http.ResponseWriter, r *http.Request) {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var fds []int
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil {
				fds = append(fds, fd)
			}
		}
		slices.Sort(fds)
		for _, fd := range fds {
			// The fd ReadDir used is closed by now: its link is gone.
			if target, err := os.Readlink(filepath.Join("/proc/self/fd", strconv.Itoa(fd))); err == nil {
				fmt.Fprintf(w, "%d %s\n", fd, target)
			}
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.FormValue("d"))
		if err != nil {
			http.Error(w, "want /slow?d=DURATION such as 500ms", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
			fmt.Fprintln(w, identity)
		case <-r.Context().Done():
		}
	})
	return mux
}

func shownVar(kv string) bool {
	key, _, _ := strings.Cut(kv, "=")
	for _, prefix := range []string{"LISTEN_", "ZEDR_", "EINHORN_"} {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return key == "NOTIFY_SOCKET" || key == "SERVER_STARTER_PORT" || key == "NGINX"
}

// echo answers every datagram with the identity line and the datagram.
func echo(pc net.PacketConn) {
	buf := make([]byte, 64*1024)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(append([]byte(identity+"\n"), buf[:n]...), from)
	}
}

func signame(sig os.Signal) string { return unix.SignalName(sig.(syscall.Signal)) }

func envOr(key string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return "-"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "server: %s %s\n", identity, fmt.Sprintf(format, args...))
}

func exit(code int, format string, args ...any) {
	logf("exit %d: %s", code, fmt.Sprintf(format, args...))
	os.Exit(code)
}

// drainHTTP stops srv without dropping a request. net/http's Shutdown closes
// a connection whose request it reads after Shutdown began, without an
// answer; under a restart that is a connection the old generation accepted
// a moment before the stop signal. So: close the listeners (the sockets stay
// open in zedr-run and the new generation), wait until Serve has returned,
// and answer every connection already accepted. Shutdown also closes idle
// keep-alive connections, and a client may be sending its next request on
// one at that very moment: it gets no answer (a GET is retried by most
// clients, a POST is not). So from the stop on every answer says
// "Connection: close", and an idle keep-alive connection may stay open for
// up to -keepalive-grace for that one last request; only then Shutdown.
func drainHTTP(ctx context.Context, srv *http.Server, listeners []net.Listener, serving *sync.WaitGroup, conns *connCount) error {
	for _, l := range listeners {
		l.Close()
	}
	serving.Wait()
	conns.stop()
	grace := time.Now().Add(*keepGrace)
	for ctx.Err() == nil {
		busy, idle := conns.n()
		if busy == 0 && (idle == 0 || time.Now().After(grace)) {
			break
		}
		time.Sleep(5 * time.Millisecond) // as Shutdown itself polls
	}
	return srv.Shutdown(ctx)
}

// defaultKeepAliveGrace is how long a stopping server keeps an idle
// keep-alive connection open for one more request: a client under load
// sends it within milliseconds, and one idle longer than a second is
// unlikely to be sending just as the connection closes.
const defaultKeepAliveGrace = time.Second

// connCount tracks the open connections: new or active (busy), or idle.
// Once stopping, every answer closes its connection.
type connCount struct {
	mu       sync.Mutex
	conns    map[net.Conn]bool // true: new or active; false: idle
	stopping bool
}

func (c *connCount) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conns == nil {
		c.conns = map[net.Conn]bool{}
	}
	switch st {
	case http.StateNew, http.StateActive:
		c.conns[conn] = true
	case http.StateIdle:
		c.conns[conn] = false
	default:
		delete(c.conns, conn)
	}
}

// n returns how many connections are busy and how many idle.
func (c *connCount) n() (busy, idle int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.conns {
		if b {
			busy++
		} else {
			idle++
		}
	}
	return busy, idle
}

func (c *connCount) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = true
}

// closing makes h's answers close their connection once c is stopping.
func (c *connCount) closing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if stopping {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}
