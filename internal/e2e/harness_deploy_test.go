package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

// Deploying a new binary over a running one, as the deploy tests and
// TestDeployBroken do.

// testSettle is the --watch-settle of tests that need no long settle: short,
// to keep the suite fast. Tests of bursts and slow writes use the default.
const testSettle = "300ms"

// restartRequested matches the log line of a restart the watcher asked for.
const restartRequested = `msg="restart requested" by="watcher: `

var (
	serverOnce  sync.Once
	serverBytes []byte
	serverErr   error
)

// binVersion returns the bytes of "version n" of the binary: the test server
// with a trailing marker, which the kernel ignores and which gives each
// version its own content.
func binVersion(t *testing.T, n int) []byte {
	t.Helper()
	serverOnce.Do(func() { serverBytes, serverErr = os.ReadFile(bin("testserver")) })
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	return append(append([]byte(nil), serverBytes...), fmt.Sprintf("\nzedr-test-version %d\n", n)...)
}

// writeFile writes data to path with mode, in place (O_TRUNC).
func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// renameInto deploys data at path as mv does: write a temporary file next to
// it, then rename it over path.
func renameInto(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeFile(t, tmp, data, mode)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func runIn(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// deploy is one zedr-run under load for a deploy test.
type deploy struct {
	*zedr
	t    *testing.T
	load *loadgen.Load
}

// startDeploy runs zedr-run with --ready notify, the extra args and the
// command, waits for generation 1 and puts it under load.
func startDeploy(t *testing.T, extra []string, command ...string) *deploy {
	t.Helper()
	args := append([]string{"--listen", "tcp:127.0.0.1:0", "--ready", "notify"}, extra...)
	args = append(append(args, "--"), command...)
	z := startZedr(t, args...)
	z.readyPID(1)
	d := &deploy{zedr: z, t: t, load: startLoad(t, z.addr)}
	waitRequests(t, d.load, 200)
	return d
}

// finish stops the load, prints the counts, checks that no request failed
// and that the watcher asked for exactly restarts restarts.
func (d *deploy) finish(restarts int) {
	d.t.Helper()
	waitRequests(d.t, d.load, 200)
	res := d.load.Stop()
	d.t.Logf("under load: %v", res)
	if res.Failed() != 0 {
		d.t.Errorf("%d requests failed: %v; examples: %q", res.Failed(), res.Failures, res.Errors)
	}
	if res.OK == 0 {
		d.t.Error("no request succeeded")
	}
	if n := d.countLog(restartRequested); n != restarts {
		d.t.Errorf("the watcher asked for %d restarts, want %d", n, restarts)
	}
}

// serving returns the generation and pid that answer now.
func (d *deploy) serving() (gen, pid int) {
	d.t.Helper()
	body := get(d.t, d.addr, "/")
	m := regexp.MustCompile(`generation=(\d+) pid=(\d+)`).FindStringSubmatch(body)
	if m == nil {
		d.t.Fatalf("unexpected answer %q", body)
	}
	gen, _ = strconv.Atoi(m[1])
	pid, _ = strconv.Atoi(m[2])
	return gen, pid
}

// wantServing checks that generation gen answers and that its process runs
// the file now at path (when path is not ""). Right after gen became ready
// the old generation may still accept a few connections before it closes its
// listener, so this asks again until gen answers.
func (d *deploy) wantServing(gen int, path string) {
	d.t.Helper()
	deadline := time.Now().Add(waitLimit)
	g, pid := d.serving()
	for g != gen && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		g, pid = d.serving()
	}
	if g != gen {
		d.t.Fatalf("generation %d answers, want %d", g, gen)
	}
	if path == "" {
		return
	}
	exe, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		d.t.Fatal(err)
	}
	want, err := os.Stat(path)
	if err != nil {
		d.t.Fatal(err)
	}
	if !os.SameFile(exe, want) {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		d.t.Errorf("generation %d pid=%d runs %s, not the file now at %s", gen, pid, link, path)
	}
}

// settled waits until the watcher has looked at the file again and found no
// content change: a barrier after which every earlier change has been acted
// on. It needs --log-level debug.
func (d *deploy) settled(path string) {
	d.t.Helper()
	n := d.countLog(`msg="watch: no content change"`)
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		d.t.Fatal(err)
	}
	d.waitLogN(`msg="watch: no content change"`, n+1)
}
