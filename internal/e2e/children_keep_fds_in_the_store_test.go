package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"zedr-run/wrapper/control"
)

// Guarantee: children keep fds in zedr-run's fd store across restarts,
// crashes and re-execs.

// TestChildFDStore: the test server keeps a counter in a memfd with
// socketact.File and hands a client connection on with StoreConn/Conns.
// Every later generation finds the counter by name in LISTEN_FDNAMES,
// after a restart, a crash (kill -9) and a `zedr-run reexec`; the stored
// connection is answered by the next generation on the same TCP
// connection; status lists what is stored.
func TestChildFDStore(t *testing.T) {
	ctl := filepath.Join(t.TempDir(), "control.sock")
	z := startZedr(t, "--control", ctl, "--listen", "tcp:127.0.0.1:0,name=web", "--ready", "notify", "--",
		bin("testserver"), "-notify", "-fdstore")
	z.waitLog(`generation=1 .* fdstore counter=1 fdnames=web$`)
	z.readyPID(1)

	c, err := net.DialTimeout("tcp", z.addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	fmt.Fprint(c, "GET /keep HTTP/1.0\r\n\r\n")
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "stored by generation=1 ") {
		t.Fatalf("/keep answered %q, %v", line, err)
	}
	z.waitLog(`msg="fd store: stored" name=client kind="tcp[46] connection" gen=1 `)

	z.signal(sigUSR2)
	z.waitLog(`generation=2 .* fdstore counter=2 fdnames=web:counter:client$`)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "taken over by generation=2 ") {
		t.Fatalf("the stored connection got %q, %v; want generation 2's answer", line, err)
	}
	if rest, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("the connection taken over was not closed: %q, %v", rest, err)
	}
	pid2 := z.readyPID(2)
	st := waitStatus(t, ctl, "a store of the counter alone", func(st control.Status) bool {
		return len(st.FDStore) == 1
	})
	if s := st.FDStore[0]; s.Name != "counter" || s.Kind != "memfd" || s.Gen != 1 || s.FD != 4 {
		t.Errorf("status lists %+v, want counter, memfd, from generation 1, at fd 4", s)
	}

	syscall.Kill(pid2, syscall.SIGKILL) // a crash
	z.waitLog(`generation=3 .* fdstore counter=3 fdnames=web:counter$`)
	z.readyPID(3)

	if out, err := exec.Command(bin("zedr-run"), "reexec", "--control", ctl).CombinedOutput(); err != nil {
		t.Fatalf("zedr-run reexec: %v: %s", err, out)
	}
	z.waitLog(`msg="re-executed: carrying on" .*stored_fds=1`)
	z.signal(sigUSR2)
	z.waitLog(`generation=4 .* fdstore counter=4 fdnames=web:counter$`)
	z.readyPID(4)
	out, err := exec.Command(bin("zedr-run"), "status", "--control", ctl).CombinedOutput()
	if err != nil || !regexpMatch(`(?m)^4\s+counter\s+memfd\s+1$`, string(out)) {
		t.Errorf("zedr-run status: %v:\n%s\nwant the stored counter listed", err, out)
	}
	t.Logf("counter 1 -> 4 over a restart, a crash and a reexec; the stored connection answered by generation 2")
}

// pyStorePrelude starts the Python children of the fd store tests: it
// connects to NOTIFY_SOCKET, defines send(msg, fds) (the plain protocol with
// socket.send_fds), bumps the memfd counter "state" it was given back or
// creates it (fd, n), and prints its generation, the counter and the names
// it got.
const pyStorePrelude = `
import os, signal, socket, sys
gen = os.environ["ZEDR_GENERATION"]
names = os.environ["LISTEN_FDNAMES"].split(":") if os.environ.get("LISTEN_FDS") else []
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.connect(addr)
def send(msg, fds=()):
    socket.send_fds(ns, [msg.encode()], list(fds))
if "state" in names:
    fd = 3 + names.index("state")
    n = int(os.pread(fd, 20, 0).strip() or b"0")
else:
    fd = os.memfd_create("state")
    n = 0
n += 1
os.pwrite(fd, str(n).encode().ljust(20), 0)
print("py gen=%s state=%d fdnames=%s" % (gen, n, ":".join(names)), file=sys.stderr, flush=True)
`

// storeScript is a child in Python that speaks the plain protocol with
// socket.send_fds: generation 1 stores a memfd (a counter), a TCP listener
// and two connections to the test (one with FDPOLL=0); generation 2 removes
// the listener and stores three more memfds into a store of five.
const storeScript = pyStorePrelude + `if gen == "1":
    send("FDSTORE=1\nFDNAME=state", [fd])
    l = socket.create_server(("127.0.0.1", 0))
    send("FDSTORE=1\nFDNAME=extra", [l.fileno()])
    port = int(os.environ["PEER_PORT"])
    for name, extra in (("conn", ""), ("keep", "\nFDPOLL=0")):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(name.encode() + b"\n")
        send("FDSTORE=1\nFDNAME=" + name + extra, [c.fileno()])
elif gen == "2":
    send("FDSTOREREMOVE=1\nFDNAME=extra")
    send("FDSTORE=1\nFDNAME=more", [os.memfd_create("more") for _ in range(3)])
send("READY=1")
while True:
    signal.pause()
`

// TestChildFDStorePython: the store is the plain protocol. A Python child
// stores a memfd, a listener and connections; the next generation finds
// them in LISTEN_FDNAMES in the order stored; FDSTOREREMOVE drops one; the
// limit refuses the rest with a warning; a connection whose peer resets it
// is dropped, one stored with FDPOLL=0 stays.
func TestChildFDStorePython(t *testing.T) {
	python := needTool(t, "/usr/bin/python3")
	dir := t.TempDir()
	script := filepath.Join(dir, "store.py")
	writeFile(t, script, []byte("#!"+python+"\n"+storeScript), 0o755)
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.(*net.TCPListener).SetDeadline(time.Now().Add(waitLimit))
	ctl := filepath.Join(dir, "control.sock")
	cmd := execZedr("--control", ctl, "--fdstore-max", "5", "--listen", "tcp:127.0.0.1:0,name=web", "--ready", "notify", "--", script)
	cmd.Env = append(cmd.Environ(), fmt.Sprintf("PEER_PORT=%d", peer.Addr().(*net.TCPAddr).Port))
	z := startCmd(t, cmd, true)

	peers := map[string]net.Conn{}
	for range 2 {
		c, err := peer.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(waitLimit))
		name, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		peers[strings.TrimSpace(name)] = c
	}
	z.waitLog(`py gen=1 state=1 fdnames=web$`)
	z.readyPID(1)
	z.waitLogN(`msg="fd store: stored"`, 4)

	z.signal(sigUSR2)
	z.waitLog(`py gen=2 state=2 fdnames=web:state:extra:conn:keep$`)
	z.waitLog(`msg="fd store: removed" name=extra count=1 `)
	z.waitLog(`msg="fd store: full, refused the rest" .*name=more refused=1 max=5`)
	z.readyPID(2)

	// The clients go away abruptly (RST): the stored sockets report
	// EPOLLHUP|EPOLLERR. A plain close (FIN) only half-closes them
	// (EPOLLRDHUP), which systemd does not count as a hang-up either: a
	// client may shut down its side and still wait for the answer.
	for _, name := range []string{"keep", "conn"} {
		peers[name].(*net.TCPConn).SetLinger(0)
		peers[name].Close()
	}
	z.waitLog(`msg="fd store: dropped a descriptor that hung up" name=conn kind="tcp[46] connection" gen=1 `)
	st := waitStatus(t, ctl, "the store after the hang-ups", func(st control.Status) bool { return len(st.FDStore) == 4 })
	var kinds []string
	for _, s := range st.FDStore {
		kinds = append(kinds, fmt.Sprintf("%s:%s:%d", s.Name, s.Kind, s.Gen))
	}
	t.Logf("store: %v", kinds)

	z.signal(sigUSR2)
	z.waitLog(`py gen=3 state=3 fdnames=web:state:keep:more:more$`)
	z.readyPID(3)
	if n := z.countLog(`hung up" name=keep`); n != 0 {
		t.Errorf("the connection stored with FDPOLL=0 was dropped")
	}
}

func regexpMatch(expr, s string) bool { return regexp.MustCompile(expr).MatchString(s) }
