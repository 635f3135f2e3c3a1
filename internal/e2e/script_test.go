package e2e

import (
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"

	"zedr-run/internal/loadgen"
)

// TestScript runs the CLI scenarios in the module's testdata/script with the built
// zedr-run and testserver on PATH. Besides testscript's own commands:
//
//	start NAME ARGS...      start zedr-run ARGS in the background; its log goes to NAME.log
//	waitlog NAME REGEXP [N] wait until N (1) lines of NAME.log match
//	waitexit NAME CODE      wait until zedr-run NAME exits with CODE
//	signal NAME SIG         send zedr-run NAME a signal (TERM, INT, USR2, ...)
//	load start NAME         start bounded HTTP load on zedr-run NAME's first socket
//	load stop               stop it; fails unless every request succeeded
//	json PATH WANT          the JSON in stdout has WANT at PATH (a.b.0.c; "len" counts)
//	nocontrolfd NAME SOCK   no process of zedr-run NAME's children holds control socket SOCK
//	opendir VAR             make a directory anyone may enter, in $VAR
//	http NAME               GET / from zedr-run NAME's first socket; the body goes to stdout
//	stop NAME               SIGTERM to zedr-run NAME, and wait until it exits 0
//
// and the condition [root].
func TestScript(t *testing.T) {
	// Scenarios run zedr-run as another user too: let it reach the binaries.
	os.Chmod(binDir, 0o755)
	testscript.Run(t, testscript.Params{
		Dir: fromRoot("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Setenv("BIN", binDir)
			env.Values[scriptKey{}] = &scriptState{procs: map[string]*scriptProc{}}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"start":       cmdStart,
			"waitlog":     cmdWaitLog,
			"waitexit":    cmdWaitExit,
			"signal":      cmdSignal,
			"load":        cmdLoad,
			"json":        cmdJSON,
			"nocontrolfd": cmdNoControlFD,
			"opendir":     cmdOpenDir,
			"http":        cmdHTTP,
			"stop":        cmdStop,
		},
	})
}

type scriptKey struct{}

type scriptState struct {
	mu    sync.Mutex
	procs map[string]*scriptProc
	load  *loadgen.Load
}

type scriptProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func state(ts *testscript.TestScript) *scriptState { return ts.Value(scriptKey{}).(*scriptState) }

func proc(ts *testscript.TestScript, name string) *scriptProc {
	st := state(ts)
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.procs[name]
	if p == nil {
		ts.Fatalf("no zedr-run started as %q", name)
	}
	return p
}

func cmdStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: start NAME ARGS...")
	}
	name := args[0]
	logPath := ts.MkAbs(name + ".log")
	logFile, err := os.Create(logPath)
	ts.Check(err)
	defer logFile.Close()
	cmd := exec.Command(bin("zedr-run"), args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = envOf(ts)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	ts.Check(cmd.Start())
	p := &scriptProc{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	st := state(ts)
	st.mu.Lock()
	st.procs[name] = p
	st.mu.Unlock()
	ts.Defer(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Signal(syscall.SIGKILL) // its children die with it (parent-death signal)
			<-p.exited
		}
	})
	ts.Logf("started zedr-run %s pid=%d", strings.Join(args[1:], " "), cmd.Process.Pid)
}

// envOf is the script's environment, for processes started by commands.
func envOf(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "XDG_RUNTIME_DIR", "WORK"} {
		if v := ts.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// pollUntil calls ok until it is true, for at most waitLimit.
func pollUntil(ts *testscript.TestScript, what string, ok func() bool) {
	deadline := time.Now().Add(waitLimit)
	for !ok() {
		if time.Now().After(deadline) {
			ts.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cmdWaitLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: waitlog NAME REGEXP [N]")
	}
	p := proc(ts, args[0])
	re, err := regexp.Compile("(?m)" + args[1]) // ^ and $ match at lines
	ts.Check(err)
	n := 1
	if len(args) == 3 {
		n, err = strconv.Atoi(args[2])
		ts.Check(err)
	}
	count := func() int {
		b, _ := os.ReadFile(p.log)
		return len(re.FindAllIndex(b, -1))
	}
	pollUntil(ts, fmt.Sprintf("%d lines of %s matching %q", n, args[0], args[1]), func() bool {
		if count() >= n {
			return true
		}
		select {
		case <-p.exited:
			if count() < n {
				b, _ := os.ReadFile(p.log)
				ts.Fatalf("zedr-run %s exited before logging %q:\n%s", args[0], args[1], b)
			}
		default:
		}
		return false
	})
}

func cmdWaitExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitexit NAME CODE")
	}
	p := proc(ts, args[0])
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	select {
	case <-p.exited:
	case <-time.After(waitLimit):
		ts.Fatalf("zedr-run %s still runs after %v", args[0], waitLimit)
	}
	if got := p.cmd.ProcessState.ExitCode(); got != want {
		ts.Fatalf("zedr-run %s exited with %d, want %d", args[0], got, want)
	}
}

func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal NAME SIG")
	}
	sig := unix.SignalNum("SIG" + args[1])
	if sig == 0 {
		ts.Fatalf("unknown signal %q", args[1])
	}
	ts.Check(proc(ts, args[0]).cmd.Process.Signal(sig))
}

var listeningAddr = regexp.MustCompile(`msg=listening .*addr=(\S+)`)

func cmdLoad(ts *testscript.TestScript, neg bool, args []string) {
	st := state(ts)
	switch {
	case !neg && len(args) == 2 && args[0] == "start":
		b, err := os.ReadFile(proc(ts, args[1]).log)
		ts.Check(err)
		m := listeningAddr.FindSubmatch(b)
		if m == nil {
			ts.Fatalf("no listening address in %s's log", args[1])
		}
		l, err := loadgen.Start(context.Background(), loadConfig(string(m[1])))
		ts.Check(err)
		st.load = l
		ts.Defer(func() { l.Stop() })
		// Really under load before going on.
		pollUntil(ts, "100 requests", func() bool { return l.Snapshot().Requests >= 100 })
	case !neg && len(args) == 1 && args[0] == "stop":
		if st.load == nil {
			ts.Fatalf("no load started")
		}
		res := st.load.Stop()
		st.load = nil
		ts.Logf("load: %v", res)
		if res.Failed() != 0 {
			ts.Fatalf("%d requests failed: %v", res.Failed(), res)
		}
	default:
		ts.Fatalf("usage: load start NAME | load stop")
	}
}

// cmdJSON checks one value in the JSON of the last command's stdout.
func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: json PATH WANT")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("stdout is not JSON: %v", err)
	}
	for _, key := range strings.Split(args[0], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[key]
		case []any:
			if key == "len" {
				v = float64(len(x))
				continue
			}
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("%s: no element %q in a list of %d", args[0], key, len(x))
			}
			v = x[i]
		default:
			ts.Fatalf("%s: %q of a %T", args[0], key, v)
		}
	}
	got := fmt.Sprint(v)
	if (got == args[1]) == neg {
		ts.Fatalf("%s is %q; want %s%q", args[0], got, map[bool]string{true: "not ", false: ""}[neg], args[1])
	}
}

// cmdNoControlFD checks that no process of NAME's children holds the
// control socket bound at SOCK.
func cmdNoControlFD(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: nocontrolfd NAME SOCK")
	}
	zpid := proc(ts, args[0]).cmd.Process.Pid
	sock := ts.MkAbs(args[1])
	// The control socket's inode, from the table of unix sockets.
	b, err := os.ReadFile("/proc/net/unix")
	ts.Check(err)
	var inode string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && f[7] == sock {
			inode = f[6]
		}
	}
	if inode == "" {
		ts.Fatalf("no unix socket bound at %s", sock)
	}
	// Children are listed by the thread that forked them.
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", zpid))
	ts.Check(err)
	var pids []string
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		pids = append(pids, strings.Fields(string(b))...)
	}
	if len(pids) == 0 {
		ts.Fatalf("zedr-run pid=%d has no children", zpid)
	}
	for _, pid := range pids {
		fds, err := os.ReadDir("/proc/" + pid + "/fd")
		ts.Check(err)
		for _, fd := range fds {
			if target, _ := os.Readlink("/proc/" + pid + "/fd/" + fd.Name()); target == "socket:["+inode+"]" {
				ts.Fatalf("child pid=%s holds the control socket as fd %s", pid, fd.Name())
			}
		}
		ts.Logf("child pid=%s: %d fds, none is the control socket (inode %s)", pid, len(fds), inode)
	}
}

// cmdOpenDir makes a directory that every user may enter (the script's own
// is private to root), for scenarios that run a command as another user.
func cmdOpenDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: opendir VAR")
	}
	dir, err := os.MkdirTemp("", "zedr-run-script-")
	ts.Check(err)
	ts.Defer(func() { os.RemoveAll(dir) })
	ts.Check(os.Chmod(dir, 0o755))
	ts.Setenv(args[0], dir)
}

// addrOf is the first socket address in zedr-run NAME's log.
func addrOf(ts *testscript.TestScript, name string) string {
	b, err := os.ReadFile(proc(ts, name).log)
	ts.Check(err)
	m := listeningAddr.FindSubmatch(b)
	if m == nil {
		ts.Fatalf("no listening address in %s's log", name)
	}
	return string(m[1])
}

func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: http NAME")
	}
	res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: addrOf(ts, args[0]), Concurrency: 1, MaxRequests: 1, Timeout: 10 * time.Second})
	ts.Check(err)
	if res.OK != 1 {
		ts.Fatalf("GET /: %v", res.Errors)
	}
	for line := range res.Bodies {
		ts.Stdout().Write([]byte(line + "\n"))
	}
}

func cmdStop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stop NAME")
	}
	p := proc(ts, args[0])
	ts.Check(p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(waitLimit):
		ts.Fatalf("zedr-run %s did not exit within %v of SIGTERM", args[0], waitLimit)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		ts.Fatalf("zedr-run %s exited %d", args[0], code)
	}
}
