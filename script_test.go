package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"zedr-run/internal/loadgen"
)

// TestScript runs the scenarios in testdata/script, which read as
// documentation of how zedr-run is used. The built zedr-run and testserver
// are on PATH, and $BIN names their directory. Commands added to
// testscript's own:
//
//	start PROG [ARG...]         run PROG in the background, its stderr in $WORK/PROG.log
//	stop [-SIGNAL] [CODE]       signal it (default TERM), wait, check its exit code (default 0)
//	waitlog REGEXP [VAR]        wait for a line of the log matching REGEXP; VAR gets its first group
//	http ADDR [PATH]            GET http://ADDR/PATH and print the body
//	load start ADDR | load stop bounded load; stop prints the counts and fails if any request failed
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Setenv("BIN", binDir)
			env.Values[stateKey{}] = &scriptState{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"start":   cmdStart,
			"stop":    cmdStop,
			"waitlog": cmdWaitLog,
			"http":    cmdHTTP,
			"load":    cmdLoad,
		},
	})
}

// scriptProc is the process started by "start" in one script.
type scriptProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// scriptState is what the custom commands of one script share. Scripts run
// in parallel, each with its own.
type scriptState struct {
	proc *scriptProc
	load *loadgen.Load
}

type stateKey struct{}

func state(ts *testscript.TestScript) *scriptState { return ts.Value(stateKey{}).(*scriptState) }

func cmdStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: start PROG [ARG...]")
	}
	if state(ts).proc != nil {
		ts.Fatalf("start: a process already runs")
	}
	prog := args[0]
	if !strings.Contains(prog, "/") {
		if p := filepath.Join(binDir, prog); fileExists(p) {
			prog = p
		}
	}
	logPath := ts.MkAbs(filepath.Base(args[0]) + ".log")
	f, err := os.Create(logPath)
	ts.Check(err)
	cmd := exec.Command(prog, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnv(ts)
	cmd.Stdout, cmd.Stderr = f, f
	ts.Check(cmd.Start())
	f.Close()
	p := &scriptProc{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	state(ts).proc = p
	ts.Defer(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
}

// scriptEnv is the script's environment, for the processes it starts.
func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "BIN"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func proc(ts *testscript.TestScript) *scriptProc {
	p := state(ts).proc
	if p == nil {
		ts.Fatalf("no process started")
	}
	return p
}

func cmdStop(ts *testscript.TestScript, neg bool, args []string) {
	p := proc(ts)
	sig := syscall.SIGTERM
	want := 0
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			n, err := parseSignal("stop", a[1:])
			ts.Check(err)
			sig = n
			continue
		}
		_, err := fmt.Sscanf(a, "%d", &want)
		ts.Check(err)
	}
	ts.Check(p.cmd.Process.Signal(sig))
	select {
	case <-p.exited:
	case <-time.After(waitLimit):
		ts.Fatalf("%s did not exit within %v of %v", p.cmd.Path, waitLimit, sig)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != want {
		ts.Fatalf("%s exited %d, want %d", filepath.Base(p.cmd.Path), code, want)
	}
}

func cmdWaitLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitlog REGEXP [VAR]")
	}
	p := proc(ts)
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	deadline := time.Now().Add(waitLimit)
	for {
		b, _ := os.ReadFile(p.log)
		for _, line := range strings.Split(string(b), "\n") {
			if m := re.FindStringSubmatch(line); m != nil {
				ts.Logf("%s", line)
				if len(args) == 2 && len(m) > 1 {
					ts.Setenv(args[1], m[1])
				}
				return
			}
		}
		select {
		case <-p.exited:
			ts.Fatalf("%s exited before logging %q", filepath.Base(p.cmd.Path), args[0])
		default:
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no line matching %q in %s within %v", args[0], p.log, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: http ADDR [PATH]")
	}
	path := "/"
	if len(args) == 2 {
		path = args[1]
	}
	res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: args[0], Path: path, Concurrency: 1, MaxRequests: 1, Timeout: 10 * time.Second})
	ts.Check(err)
	if (res.OK == 1) == neg {
		ts.Fatalf("GET http://%s%s: ok=%d %v", args[0], path, res.OK, res.Errors)
	}
	for line := range res.Bodies {
		fmt.Fprintln(ts.Stdout(), line)
	}
}

func cmdLoad(ts *testscript.TestScript, neg bool, args []string) {
	switch {
	case len(args) == 2 && args[0] == "start":
		l, err := loadgen.Start(context.Background(), loadConfig(args[1]))
		ts.Check(err)
		state(ts).load = l
		ts.Defer(func() { l.Stop() })
	case len(args) == 1 && args[0] == "stop":
		l := state(ts).load
		if l == nil {
			ts.Fatalf("load stop: no load started")
		}
		res := l.Stop()
		fmt.Fprintf(ts.Stdout(), "%v\n", res)
		if res.Failed() != 0 {
			ts.Fatalf("%d requests failed: %v; examples: %q", res.Failed(), res.Failures, res.Errors)
		}
		if res.OK == 0 {
			ts.Fatalf("no request succeeded")
		}
	default:
		ts.Fatalf("usage: load start ADDR | load stop")
	}
}
