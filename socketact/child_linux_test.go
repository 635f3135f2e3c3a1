package socketact

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary re-executes itself as the child: with envShim set it plays
// zedr-run's shim (set LISTEN_PID to its own pid, then execve itself, which
// keeps the pid); with envHelper set it runs that helper instead of the tests.
const (
	envShim   = "ZEDR_SOCKETACT_SHIM"
	envHelper = "ZEDR_SOCKETACT_HELPER"
	envSpecs  = "ZEDR_SOCKETACT_SPECS"
)

var helpers = map[string]func() error{
	"child": childHelper,
	"adopt": adoptHelper,
}

func TestMain(m *testing.M) {
	if os.Getenv(envShim) != "" {
		os.Unsetenv(envShim)
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
		fmt.Fprintln(os.Stderr, "shim: exec:", err)
		os.Exit(2)
	}
	if name := os.Getenv(envHelper); name != "" {
		if err := helpers[name](); err != nil {
			fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childHelper reports what Files sees, then answers one connection or
// datagram on every socket with its name, and notifies READY=1.
func childHelper() error {
	files, err := Files()
	if err != nil {
		return err
	}
	again, _ := Files()
	if !slices.Equal(files, again) {
		return fmt.Errorf("second Files call returned other files")
	}
	fmt.Printf("files %d\n", len(files))
	for i, f := range files {
		flags, err := unix.FcntlInt(uintptr(ListenFdsStart+i), unix.F_GETFD, 0)
		fmt.Printf("fd %d %s cloexec=%v %v\n", ListenFdsStart+i, f.Name(), flags&unix.FD_CLOEXEC != 0, err)
	}
	fmt.Printf("env LISTEN_PID=%s pid=%d\n", os.Getenv("LISTEN_PID"), os.Getpid())
	ls, err := Listeners()
	if err != nil {
		return err
	}
	pcs, err := PacketConns()
	if err != nil {
		return err
	}
	var kinds []string
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for name, list := range ls {
		for _, l := range list {
			kinds = append(kinds, "listener "+name)
			wg.Go(func() {
				c, err := l.Accept()
				if err == nil {
					_, err = io.WriteString(c, name+"\n")
					c.Close()
				}
				errs <- err
			})
		}
	}
	for name, list := range pcs {
		for _, pc := range list {
			kinds = append(kinds, "packetconn "+name)
			wg.Go(func() {
				buf := make([]byte, 100)
				n, from, err := pc.ReadFrom(buf)
				if err == nil {
					_, err = pc.WriteTo([]byte(name+":"+string(buf[:n])), from)
				}
				errs <- err
			})
		}
	}
	sort.Strings(kinds)
	fmt.Println(strings.Join(kinds, ", "))
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	ok, err := Notify("READY=1")
	fmt.Printf("notify %v %v\n", ok, err)
	return nil
}

// adoptHelper runs OpenAll on the specs in $ZEDR_SOCKETACT_SPECS and reports
// each socket, and which of the passed fds are still open.
func adoptHelper() error {
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	var specs []Spec
	for _, s := range strings.Split(os.Getenv(envSpecs), "\n") {
		spec, err := ParseSpec(s)
		if err != nil {
			return err
		}
		specs = append(specs, spec)
	}
	socks, err := OpenAll(specs)
	if err != nil {
		fmt.Printf("error: %v\n", err)
		return nil
	}
	for _, s := range socks {
		fmt.Printf("%s inherited=%v addr=%s fd=%d\n", s.Spec, s.Inherited, s.Addr(), s.File.Fd())
	}
	for fd := ListenFdsStart; fd < ListenFdsStart+n; fd++ {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		fmt.Printf("fd %d open=%v\n", fd, err == nil)
	}
	return nil
}

// startHelper runs helper in a re-executed test binary that gets socks as
// fds 3, 4, ... with ChildEnv's variables and extra env; shim says whether
// the shim sets LISTEN_PID. It returns the command and its stdout.
func startHelper(t *testing.T, helper string, shim bool, socks []*Socket, extra ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "/proc/self/exe", "-test.run=^$")
	cmd.Env = append(StripEnv(os.Environ()), ChildEnv(socks, nil)...)
	cmd.Env = append(cmd.Env, envHelper+"="+helper)
	if shim {
		cmd.Env = append(cmd.Env, envShim+"=1")
	}
	cmd.Env = append(cmd.Env, extra...)
	for _, s := range socks {
		cmd.ExtraFiles = append(cmd.ExtraFiles, s.File)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &out
}

func readLine(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read from %s: %v", c.RemoteAddr(), err)
	}
	return strings.TrimSuffix(line, "\n")
}

func TestChildSide(t *testing.T) {
	unixPath := sockPath(t)
	web := mustOpen(t, "tcp:127.0.0.1:0,name=web")
	api := mustOpen(t, "unix:"+unixPath+",name=api")
	dns := mustOpen(t, "udp:127.0.0.1:0,name=dns")
	pkt := mustOpen(t, "unixpacket:"+sockPath(t))
	notifyPath := sockPath(t)
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()

	cmd, out := startHelper(t, "child", true, []*Socket{web, api, dns, pkt}, "NOTIFY_SOCKET="+notifyPath)

	// Connections and datagrams queue on the sockets until the child serves them.
	cWeb, err := net.Dial("tcp", web.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cWeb.Close()
	cAPI, err := net.Dial("unix", api.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cAPI.Close()
	cPkt, err := net.Dial("unixpacket", pkt.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cPkt.Close()
	cDNS, err := net.Dial("udp", dns.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cDNS.Close()
	if _, err := cDNS.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if got := readLine(t, cWeb); got != "web" {
		t.Errorf("tcp socket answered %q, want web", got)
	}
	if got := readLine(t, cAPI); got != "api" {
		t.Errorf("unix socket answered %q, want api", got)
	}
	if got := readLine(t, cPkt); got != pkt.Spec.FDName() {
		t.Errorf("unixpacket socket answered %q, want %s", got, pkt.Spec.FDName())
	}
	buf := make([]byte, 100)
	cDNS.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := cDNS.Read(buf); err != nil || string(buf[:n]) != "dns:q" {
		t.Errorf("udp socket answered %q, %v; want dns:q", buf[:n], err)
	}
	notify.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := notify.Read(buf); err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("notify socket got %q, %v; want READY=1", buf[:n], err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	pid := cmd.Process.Pid
	want := strings.Join([]string{
		"files 4",
		"fd 3 web cloexec=true <nil>",
		"fd 4 api cloexec=true <nil>",
		"fd 5 dns cloexec=true <nil>",
		"fd 6 " + pkt.Spec.FDName() + " cloexec=true <nil>",
		fmt.Sprintf("env LISTEN_PID=%d pid=%d", pid, pid),
		"listener api, listener " + pkt.Spec.FDName() + ", listener web, packetconn dns",
		"notify true <nil>",
	}, "\n") + "\n"
	if out.String() != want {
		t.Errorf("child output:\n%s\nwant:\n%s", out, want)
	}
}

func TestChildNotActivated(t *testing.T) {
	web := mustOpen(t, "tcp:127.0.0.1:0,name=web")
	// LISTEN_PID names another process (ours): the sockets are not for the child.
	cmd, out := startHelper(t, "child", false, []*Socket{web}, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out.String(), "files 0\n") || !strings.HasSuffix(out.String(), "notify false <nil>\n") {
		t.Errorf("child output:\n%s\nwant files 0 and no notify", out)
	}
}

func TestOpenAllAdopts(t *testing.T) {
	path := sockPath(t)
	tcp := mustOpen(t, "tcp:127.0.0.1:0")
	uds := mustOpen(t, "unix:"+path)
	udp := mustOpen(t, "udp:127.0.0.1:0")
	tcp6 := mustOpen(t, "tcp6::0")
	specs := []string{
		"tcp:127.0.0.1:0",      // adopts fd 3: port 0 matches any port
		"tcp4::0",              // nothing inherited matches: opened
		"unix:" + path,         // adopts fd 4
		"tcp::" + portOf(tcp6), // dual-stack, fd 6 is v6-only: no match, and the port is taken
	}
	cmd, out := startHelper(t, "adopt", true, []*Socket{tcp, uds, udp, tcp6}, envSpecs+"="+strings.Join(specs[:3], "\n"))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) != 10 {
		t.Fatalf("helper output:\n%s", out)
	}
	if want := fmt.Sprintf("tcp:127.0.0.1:0 inherited=true addr=%s fd=3", tcp.Addr()); lines[0] != want {
		t.Errorf("got %q, want %q", lines[0], want)
	}
	if !strings.HasPrefix(lines[1], "tcp4::0 inherited=false addr=0.0.0.0:") {
		t.Errorf("got %q, want a fresh tcp4 socket", lines[1])
	}
	if want := fmt.Sprintf("unix:%s inherited=true addr=%s fd=4", path, path); lines[2] != want {
		t.Errorf("got %q, want %q", lines[2], want)
	}
	// Inherited sockets that no spec asked for are passed on, named as
	// they were.
	for i, want := range []string{
		fmt.Sprintf("udp4:%s,name=%s inherited=true addr=%s fd=5", udp.Addr(), udp.Spec.FDName(), udp.Addr()),
		fmt.Sprintf("tcp6:%s,name=%s inherited=true addr=%s fd=6", tcp6.Addr(), tcp6.Spec.FDName(), tcp6.Addr()),
	} {
		if lines[3+i] != want {
			t.Errorf("passed on: got %q, want %q", lines[3+i], want)
		}
	}
	if want := "fd 3 open=true\nfd 4 open=true\nfd 5 open=true\nfd 6 open=true\n"; strings.Join(lines[5:], "\n") != want {
		t.Errorf("fds after OpenAll:\n%s\nwant all kept:\n%s", strings.Join(lines[5:], "\n"), want)
	}

	cmd, out = startHelper(t, "adopt", true, []*Socket{tcp6}, envSpecs+"="+specs[3])
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	// Not adopted, so opened afresh, which fails: the v6-only socket holds the port.
	want := fmt.Sprintf("error: open tcp::%[1]s: bind [::]:%[1]s: address already in use\n", portOf(tcp6))
	if out.String() != want {
		t.Errorf("OpenAll of a dual-stack spec over a v6-only socket:\n%s\nwant:\n%s", out, want)
	}
}

func portOf(s *Socket) string {
	_, port, _ := net.SplitHostPort(s.Addr())
	return port
}

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if ok, err := Notify("READY=1"); ok || err != nil {
		t.Fatalf("Notify without NOTIFY_SOCKET = %v, %v; want false, nil", ok, err)
	}
	name := "@zedr-socketact-notify-" + strconv.Itoa(os.Getpid())
	for _, addr := range []string{sockPath(t), name} {
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		t.Setenv("NOTIFY_SOCKET", addr)
		if ok, err := Notify("STATUS=serving\nREADY=1"); !ok || err != nil {
			t.Fatalf("Notify to %s = %v, %v", addr, ok, err)
		}
		buf := make([]byte, 100)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "STATUS=serving\nREADY=1" {
			t.Fatalf("%s got %q, %v", addr, buf[:n], err)
		}
	}
	t.Setenv("NOTIFY_SOCKET", sockPath(t)) // nobody there
	if ok, err := Notify("READY=1"); ok || err == nil {
		t.Fatalf("Notify to a missing socket = %v, %v; want an error", ok, err)
	}
}
