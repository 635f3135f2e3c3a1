package contain

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestCgroupDir(t *testing.T) {
	for _, c := range []struct {
		name, mountinfo, cgroup, want string
		err                           bool
	}{
		{"hybrid host, root cgroup",
			"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n",
			"1:cpu:/\n0::/\n", "/sys/fs/cgroup/unified", false},
		{"unified host, a delegated service",
			"35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
			"0::/system.slice/app.service\n", "/sys/fs/cgroup/system.slice/app.service", false},
		{"a bind mount of a subtree",
			"50 40 0:30 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"0::/kubepods/pod1/c1\n", "/sys/fs/cgroup/c1", false},
		{"a sibling of the mounted subtree is not under it",
			"50 40 0:30 /kube /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"0::/kubepods/c1\n", "", true},
		{"escaped mount point",
			"50 40 0:30 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw\n",
			"0::/a\n", "/mnt/cg two/a", false},
		{"cgroup v1 only",
			"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n",
			"1:cpu:/\n", "", true},
		{"no cgroup2 mount",
			"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n",
			"0::/\n", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := cgroupDir(c.mountinfo, c.cgroup)
			if c.err {
				if !errors.Is(err, ErrNoCgroup) {
					t.Fatalf("cgroupDir = %q, %v; want an ErrNoCgroup", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("cgroupDir = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	st, err := parseStat(42, []byte("42 (a) b (c) S 7 42 40 0 -1 4194560 ..."))
	if err != nil || st != (Stat{PID: 42, PPID: 7, PGID: 42, SID: 40, State: 'S'}) {
		t.Fatalf("parseStat = %+v, %v", st, err)
	}
	if _, err := parseStat(1, []byte("1 (x")); err == nil {
		t.Fatal("parseStat accepted a line without ')'")
	}
}

// startHolder starts sleep with a listening socket at fd 3 and an
// environment entry; the test's cleanup kills it.
func startHolder(t *testing.T, env string) (*exec.Cmd, uint64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ino, err := SocketInode(f.Fd())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "300")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = []string{env}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, ino
}

func TestHoldersAndEnviron(t *testing.T) {
	cmd, ino := startHolder(t, "MARK=holder")
	pid := cmd.Process.Pid
	got, err := Holders(map[uint64]bool{ino: true})
	if err != nil || !slices.Contains(got, pid) {
		t.Fatalf("Holders = %v, %v; want pid=%d among them", got, err, pid)
	}
	if slices.Contains(got, os.Getpid()) {
		t.Errorf("Holders lists the test itself, which closed the socket")
	}
	if got, _ := Holders(map[uint64]bool{ino + 1: true}); slices.Contains(got, pid) {
		t.Errorf("Holders lists pid=%d for a socket it does not hold", pid)
	}
	env, err := Environ(pid)
	if v, ok := Getenv(env, "MARK"); err != nil || !ok || v != "holder" {
		t.Errorf("Environ = %q, %v; want MARK=holder", env, err)
	}
	st, err := ReadStat(pid)
	if err != nil || st.PPID != os.Getpid() || st.SID != pid {
		t.Errorf("ReadStat = %+v, %v; want parent %d, its own session", st, err, os.Getpid())
	}
	if a := Ancestors(pid); len(a) < 2 || a[0] != pid || a[1] != os.Getpid() {
		t.Errorf("Ancestors(%d) = %v, want it, then the test", pid, a)
	}
}

func TestSignalRounds(t *testing.T) {
	cmd, ino := startHolder(t, "MARK=x")
	find := func() []int { pids, _ := Holders(map[uint64]bool{ino: true}); return pids }
	if got := SignalRounds(find, syscall.SIGKILL); !slices.Contains(got, cmd.Process.Pid) {
		t.Fatalf("SignalRounds = %v, want pid=%d", got, cmd.Process.Pid)
	}
	if err := cmd.Wait(); err == nil || cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the holder ended with %v, want SIGKILL", err)
	}
}

// TestTree runs where the test may create a cgroup v2 subtree (root, or a
// delegated cgroup): a process started inside a leaf, and its own child in
// a session of its own, die together by Kill, and the tree is removed.
func TestTree(t *testing.T) {
	tr, err := CreateTree("zedr-run-test." + strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Skipf("no cgroup here: %v", err)
	}
	// The name is taken: the next one is made, the first is left alone.
	other, err := CreateTree("zedr-run-test." + strconv.Itoa(os.Getpid()))
	if err != nil || other.Dir != tr.Dir+"-2" {
		t.Fatalf("CreateTree again = %+v, %v; want %s-2", other, err, tr.Dir)
	}
	if err := other.Remove(); err != nil {
		t.Fatal(err)
	}
	if again, err := ReuseTree(tr.Dir); err != nil || again.Dir != tr.Dir {
		t.Fatalf("ReuseTree = %+v, %v", again, err)
	}
	defer func() {
		if err := tr.Remove(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(tr.Dir); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", tr.Dir, err)
		}
	}()
	path, fd, err := tr.Leaf("gen1.worker0")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "setsid sleep 300 & exec sleep 300")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	err = cmd.Start()
	syscall.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, _ := Procs(path)
		if len(pids) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cgroup %s holds %v, want the two sleeps", path, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p, err := Populated(path); err != nil || !p {
		t.Fatalf("Populated = %v, %v; want true", p, err)
	}
	if got := tr.Leaves(); !slices.Equal(got, []string{"gen1.worker0"}) {
		t.Errorf("Leaves = %v", got)
	}
	if err := Kill(path); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for {
		p, err := Populated(path)
		if err == nil && !p {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cgroup %s still populated after Kill: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseUIDs(t *testing.T) {
	ruid, euid, err := parseUIDs(7, []byte("Name:\tsleep\nUid:\t65534\t0\t0\t0\nGid:\t0\t0\t0\t0\n"))
	if err != nil || ruid != 65534 || euid != 0 {
		t.Errorf("parseUIDs = %d, %d, %v; want 65534, 0", ruid, euid, err)
	}
	if _, _, err := parseUIDs(7, []byte("Name:\tx\nUid:\tx y\n")); err == nil {
		t.Error("parseUIDs read a bad Uid line")
	}
	if ruid, euid, err := ReadUIDs(os.Getpid()); err != nil || ruid != os.Getuid() || euid != os.Geteuid() {
		t.Errorf("ReadUIDs(self) = %d, %d, %v", ruid, euid, err)
	}
}
