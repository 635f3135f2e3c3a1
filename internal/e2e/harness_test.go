package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/loadgen"
)

// The end-to-end tests run the real zedr-run binary against real servers.
// TestMain builds zedr-run and the test server once into binDir.
var binDir string

// moduleRoot is the directory holding go.mod: the tests read examples/ and
// testdata/ there. TestMain sets it.
var moduleRoot string

// waitLimit bounds every wait in these tests: long, since the machines are
// small and noisy; a wait that succeeds returns as soon as it can.
const waitLimit = 30 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zedr-run-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		if moduleRoot, err = findModuleRoot(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := buildBinaries(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// findModuleRoot asks the go command where this module's go.mod is.
func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the zedr-run module")
	}
	return filepath.Dir(gomod), nil
}

// fromRoot returns the path of a file of the module, given from its root.
func fromRoot(elem ...string) string {
	return filepath.Join(append([]string{moduleRoot}, elem...)...)
}

// buildBinaries builds zedr-run, the test servers and examples/keepconn into dir, by package
// path: the go command finds them from any directory of the module.
func buildBinaries(dir string) error {
	for _, b := range []struct{ out, pkg string }{
		{"zedr-run", "zedr-run"},
		{"testserver", "zedr-run/testdata/server"},
		{"rawserver", "zedr-run/testdata/rawserver"},
		{"keepconn", "zedr-run/examples/keepconn"},
	} {
		args := []string{"build", "-o", filepath.Join(dir, b.out)}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, b.pkg)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+map[bool]string{true: "1", false: "0"}[raceEnabled])
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

func bin(name string) string { return filepath.Join(binDir, name) }

// zedr is one running zedr-run, with its log collected line by line.
type zedr struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // the first socket's address, from the log

	mu     sync.Mutex
	lines  []string
	stdout bytes.Buffer
	wake   chan struct{}
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// startZedr starts zedr-run with args and waits for its first socket to be
// reported. The test's cleanup kills it if it still runs.
func startZedr(t *testing.T, args ...string) *zedr {
	t.Helper()
	return startCmd(t, exec.Command(bin("zedr-run"), args...), true)
}

func startCmd(t *testing.T, cmd *exec.Cmd, waitListen bool) *zedr {
	t.Helper()
	z := &zedr{t: t, cmd: cmd, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = &syncWriter{mu: &z.mu, w: &z.stdout}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("started %s pid=%d", strings.Join(cmd.Args, " "), cmd.Process.Pid)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			z.mu.Lock()
			z.lines = append(z.lines, sc.Text())
			z.mu.Unlock()
			select {
			case z.wake <- struct{}{}:
			default:
			}
		}
		z.err = cmd.Wait()
		close(z.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-z.exited:
		default:
			cmd.Process.Signal(syscall.SIGKILL)
			<-z.exited
		}
		if t.Failed() {
			t.Logf("zedr-run log:\n%s", z.log())
		}
	})
	if waitListen {
		m := z.waitLog(`msg=listening .*addr=(\S+)`)
		z.addr = m[1]
	}
	return z
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (z *zedr) log() string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return strings.Join(z.lines, "\n")
}

// waitLog waits for a log line matching the regular expression, counting
// from the start of the log, and returns its submatches.
func (z *zedr) waitLog(expr string) []string {
	z.t.Helper()
	return z.waitLogN(expr, 1)
}

// waitLogN waits until n lines match and returns the submatches of the nth.
func (z *zedr) waitLogN(expr string, n int) []string {
	z.t.Helper()
	re := regexp.MustCompile(expr)
	deadline := time.After(waitLimit)
	for {
		z.mu.Lock()
		seen := 0
		for _, l := range z.lines {
			if m := re.FindStringSubmatch(l); m != nil {
				seen++
				if seen == n {
					z.mu.Unlock()
					return m
				}
			}
		}
		z.mu.Unlock()
		select {
		case <-z.wake:
		case <-z.exited:
			// One more look: the last lines may have come with the exit.
			if z.countLog(expr) >= n {
				continue
			}
			z.t.Fatalf("zedr-run exited (%v) before logging %q (%d times)", z.err, expr, n)
		case <-deadline:
			z.t.Fatalf("no log line matching %q (%d times) within %v", expr, n, waitLimit)
		}
	}
}

func (z *zedr) countLog(expr string) int {
	re := regexp.MustCompile(expr)
	z.mu.Lock()
	defer z.mu.Unlock()
	n := 0
	for _, l := range z.lines {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

// readyPID waits for generation gen to be ready and returns its pid.
func (z *zedr) readyPID(gen int) int {
	z.t.Helper()
	m := z.waitLog(fmt.Sprintf(`msg="generation ready" gen=%d pid=(\d+)`, gen))
	pid, _ := strconv.Atoi(m[1])
	return pid
}

func (z *zedr) signal(sig syscall.Signal) {
	z.t.Helper()
	if err := z.cmd.Process.Signal(sig); err != nil {
		z.t.Fatalf("signal zedr-run: %v", err)
	}
}

// wait waits for zedr-run to exit and returns its exit code.
func (z *zedr) wait() int {
	z.t.Helper()
	select {
	case <-z.exited:
	case <-time.After(waitLimit):
		z.t.Fatalf("zedr-run did not exit within %v", waitLimit)
	}
	return z.cmd.ProcessState.ExitCode()
}

// get fetches path from the server behind z and returns the body.
func get(t *testing.T, addr, path string) string {
	t.Helper()
	res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Path: path, Concurrency: 1, MaxRequests: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 1 {
		t.Fatalf("GET %s%s: %v", addr, path, res.Errors)
	}
	for line := range res.Bodies {
		return line
	}
	return ""
}

// httpGet returns the whole body of a GET, for endpoints with many lines.
func httpGet(t *testing.T, addr, path string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: test\r\n\r\n", path)
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	return body
}

// pidAlive reports whether pid exists and is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || len(b) < i+3 || b[i+2] != 'Z'
}

// waitGone waits until pid has exited (a zombie counts as gone: it holds
// nothing), using a pidfd, which works for processes that are not ours.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // already gone
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(waitLimit.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if n == 0 && pidAlive(pid) {
			t.Fatalf("pid=%d still running after %v", pid, waitLimit)
		}
		return
	}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// execZedr prepares zedr-run with args, for tests that set more than args.
func execZedr(args ...string) *exec.Cmd { return exec.Command(bin("zedr-run"), args...) }

// exitCode runs cmd and returns its exit status; a command that cannot be
// run at all fails the test.
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatalf("%s: %v", cmd, err)
	return -1
}

const sigUSR2 = syscall.SIGUSR2

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const nWorkers = 4

// workerPIDs waits for generation gen to be ready and returns the pids of
// its workers, in slot order (from the log's pids=[...]).
func (z *zedr) workerPIDs(gen int) []int {
	z.t.Helper()
	m := z.waitLog(fmt.Sprintf(`msg="generation ready" gen=%d .*pids="?\[([0-9 ]+)\]`, gen))
	var pids []int
	for _, f := range strings.Fields(m[1]) {
		p, _ := strconv.Atoi(f)
		pids = append(pids, p)
	}
	return pids
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var (
	staticOnce sync.Once
	staticDir  string
	staticErr  error
)

// staticBinary returns the static build (CGO_ENABLED=0, no race detector)
// of "zedr-run" or "server", built once.
func staticBinary(t *testing.T, name string) string {
	t.Helper()
	staticOnce.Do(func() {
		staticDir = filepath.Join(binDir, "static")
		for _, b := range []struct{ out, pkg string }{{"zedr-run", "zedr-run"}, {"server", "zedr-run/testdata/server"}} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(staticDir, b.out), b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				staticErr = fmt.Errorf("static build of %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return filepath.Join(staticDir, name)
}
