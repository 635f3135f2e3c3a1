package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: zedr-run upgrades itself in place.

// TestReexec replaces zedr-run's own binary and re-executes it in place 10
// times under load: the same pid, the children's pids unchanged, no fd
// gained, no request failed; a broken binary is refused and zedr-run
// carries on; a restart and a stop after the last re-exec work as before.
func TestReexec(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "zedr-run")
	deploy := func(src string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(self+".new", b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(self+".new", self); err != nil {
			t.Fatal(err)
		}
	}
	deploy(bin("zedr-run"))
	ctl := filepath.Join(dir, "control.sock")
	cmd := exec.Command(self, "--control", ctl, "--workers", "2", "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", bin("testserver"))
	z := startCmd(t, cmd, true)
	z.waitLog(`msg="generation ready" gen=1 `)
	pid := cmd.Process.Pid
	// The guardian and two workers.
	children := waitChildrenButSpare(t, pid, func(c []int) bool { return len(c) == 3 })
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	fds := openFDs(t, pid)

	reexec := func() (string, error) {
		out, err := exec.Command(bin("zedr-run"), "reexec", "--control", ctl).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	const times = 10
	for i := 1; i <= times; i++ {
		deploy(bin("zedr-run"))
		if out, err := reexec(); err != nil {
			t.Fatalf("reexec %d: %v: %s", i, err, out)
		}
		z.waitLogN(`msg="re-executed: carrying on" generations=1 `, i)
		waitRequests(t, load, 100)
		same := func(c []int) bool { return slices.Equal(c, children) }
		if got := waitChildrenButSpare(t, pid, same); !same(got) {
			t.Fatalf("after reexec %d zedr-run's children are %v, were %v", i, got, children)
		}
		// The spare shim's channel closed on exec; the next one's opens
		// once the new zedr-run forked it.
		if n := settledFDs(t, pid, fds); n != fds {
			t.Errorf("after reexec %d zedr-run has %d fds, had %d", i, n, fds)
		}
	}

	// A broken new binary fails its check: refused, nothing changes.
	writeScript(t, self, "exit 1")
	out, err := reexec()
	if err == nil || !strings.Contains(out, "failed its check") {
		t.Errorf("reexec of a broken binary: %v: %s; want it refused", err, out)
	}
	deploy(bin("zedr-run"))

	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="generation ready" gen=2 `)
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("%d re-execs of zedr-run under load, then a restart: %v; pid %d, children %v, fds %d", times, res, pid, children, fds)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// TestReexecSignals: a child started by a re-executed zedr-run (which
// starts with its signals blocked) has none blocked, and signals forwarded
// to it arrive.
func TestReexecSignals(t *testing.T) {
	dir := t.TempDir()
	got := filepath.Join(dir, "got")
	ctl := filepath.Join(dir, "control.sock")
	z := startZedr(t, "--control", ctl, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--",
		"sh", "-c", `trap 'echo HUP >> "$0"' HUP; trap 'exit 0' TERM; while :; do sleep 100 & wait $!; done`, got)
	z.readyPID(1)
	if out, err := exec.Command(bin("zedr-run"), "reexec", "--control", ctl).CombinedOutput(); err != nil {
		t.Fatalf("reexec: %v: %s", err, out)
	}
	z.waitLog(`msg="re-executed: carrying on"`)
	z.signal(syscall.SIGUSR2)
	pid := z.readyPID(2)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil || grepLine(string(b), "SigBlk:") != "SigBlk:\t0000000000000000" {
		t.Errorf("the child started after a reexec has %q", grepLine(string(b), "SigBlk:"))
	}
	z.waitLog(`msg="generation exited" gen=1 `)
	z.signal(syscall.SIGHUP)
	waitFile(t, got, "HUP\n")
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestWatchSelf: with --watch-self, replacing zedr-run's own binary makes it
// re-execute itself in place, keeping its children, under load.
func TestWatchSelf(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "zedr-run")
	b, err := os.ReadFile(bin("zedr-run"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(self, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "--watch-self", "--no-watch", "--watch-settle", "200ms", "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", bin("testserver"))
	z := startCmd(t, cmd, true)
	child := z.readyPID(1)
	z.waitLog(`msg="watching zedr-run's own binary"`)
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	// A new build: other content, deployed by rename.
	if err := os.WriteFile(self+".new", append(b, "\nnew build\n"...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(self+".new", self); err != nil {
		t.Fatal(err)
	}
	z.waitLog(`msg="reexec requested: checking the new binary" by="watcher: `)
	z.waitLog(`msg="re-executed: carrying on" generations=1 `)
	waitRequests(t, load, 200)
	res := load.Stop()
	t.Logf("zedr-run re-executed on replacement of its binary, under load: %v", res)
	if res.Failed() != 0 {
		t.Errorf("%d requests failed: %v %q", res.Failed(), res.Failures, res.Errors)
	}
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, fmt.Sprintf("generation=1 pid=%d ", child)) {
		t.Errorf("after the re-exec the child should be the same, got %q", body)
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); exe != self {
		t.Errorf("zedr-run runs %q, want the new %s", exe, self)
	}
}
