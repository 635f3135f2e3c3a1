package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// A contender is a way to run and restart the test server. Adding one is one
// entry in contenders.
type contender struct {
	name  string
	tool  string // a program it needs in PATH ("" for none) ...
	pkg   string // ... and the Debian package that has it
	start func(e *env, addr string, delay time.Duration) (*instance, error)
	// plainToo: also run it with a server that stops with plain
	// http.Server.Shutdown (-plain-plan), to show what the drain is worth.
	plainToo bool
}

var contenders = []contender{
	{name: "zedr-run (LISTEN_FDS, --ready notify)", plainToo: true, start: func(e *env, addr string, d time.Duration) (*instance, error) {
		return e.zedr(addr, nil, append([]string{e.server, "-notify"}, e.serverArgs(d)...)...)
	}},
	{name: "zedr-run --intercept-bind (server binds itself)", start: func(e *env, addr string, d time.Duration) (*instance, error) {
		return e.zedr(addr, []string{"--intercept-bind"}, append([]string{e.server, "-listen", addr, "-bind-late", "-notify"}, e.serverArgs(d)...)...)
	}},
	{name: "tableflip (server rebuilt on its library) + HUP", plainToo: true, start: startTableflip},
	{name: "naive kill + start", start: startNaive},
	{name: "Server::Starter start_server + HUP", tool: "start_server", pkg: "libserver-starter-perl", plainToo: true, start: startServerStarter},
	{name: "systemd-socket-activate, stop + start", tool: "systemd-socket-activate", pkg: "systemd", start: startSocketActivate},
}

// serverArgs are the test server's flags for the start-up time d and the
// series being run.
func (e *env) serverArgs(d time.Duration) []string {
	args := []string{"-start-delay", d.String()}
	if e.plain {
		args = append(args, "-plain-shutdown")
	}
	return args
}

// instance is a running contender.
type instance struct {
	restart func() error // triggers a restart; returns when the contender's own steps are done
	stop    func()       // stops everything it started
}

// proc starts a command with its output appended to the run's log.
func (e *env) proc(extra []*os.File, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = e.log, e.log
	cmd.ExtraFiles = extra
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, nil
}

// stopCmd sends SIGTERM and waits; SIGKILL after 15s.
func stopCmd(cmd *exec.Cmd, done <-chan error) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func waitChan(cmd *exec.Cmd) <-chan error {
	c := make(chan error, 1)
	go func() { c <- cmd.Wait() }()
	return c
}

// zedr runs zedr-run on addr with extra options and the command.
func (e *env) zedr(addr string, opts []string, command ...string) (*instance, error) {
	args := append([]string{"--listen", "tcp:" + addr, "--ready", "notify", "--log-level", "warn"}, opts...)
	cmd, err := e.proc(nil, e.zedrRun, append(append(args, "--"), command...)...)
	if err != nil {
		return nil, err
	}
	done := waitChan(cmd)
	return &instance{
		restart: func() error { return cmd.Process.Signal(syscall.SIGUSR2) },
		stop:    func() { stopCmd(cmd, done) },
	}, nil
}

// startNaive runs the server binding the port itself; a restart stops it,
// waits for it to exit and starts it again.
func startNaive(e *env, addr string, d time.Duration) (*instance, error) {
	args := append([]string{"-listen", addr, "-bind-late"}, e.serverArgs(d)...)
	cmd, err := e.proc(nil, e.server, args...)
	if err != nil {
		return nil, err
	}
	done := waitChan(cmd)
	return &instance{
		restart: func() error {
			stopCmd(cmd, done)
			if cmd, err = e.proc(nil, e.server, args...); err != nil {
				return err
			}
			done = waitChan(cmd)
			return nil
		},
		stop: func() { stopCmd(cmd, done) },
	}, nil
}

// startServerStarter runs Server::Starter's start_server, which holds the
// socket and on SIGHUP starts a new worker, waits --interval (1 s by
// default) and then sends the old one SIGTERM.
func startServerStarter(e *env, addr string, d time.Duration) (*instance, error) {
	cmd, err := e.proc(nil, "start_server", append([]string{"--port", addr, "--", e.server}, e.serverArgs(d)...)...)
	if err != nil {
		return nil, err
	}
	done := waitChan(cmd)
	return &instance{
		restart: func() error { return cmd.Process.Signal(syscall.SIGHUP) },
		stop:    func() { stopCmd(cmd, done) },
	}, nil
}

// startSocketActivate plays systemd with a .socket unit: the benchmark holds
// the listening socket for the whole run (as PID 1 would) and passes it by
// LISTEN_FDS to systemd-socket-activate, which execs the server. A restart
// is systemctl restart's stop-then-start: the socket stays (clients queue),
// the gap does not.
func startSocketActivate(e *env, addr string, d time.Duration) (*instance, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec systemd-socket-activate "$@"`, "sh", e.server}, e.serverArgs(d)...)
	start := func() (*exec.Cmd, error) { return e.proc([]*os.File{f}, "sh", args...) }
	cmd, err := start()
	if err != nil {
		f.Close()
		return nil, err
	}
	done := waitChan(cmd)
	return &instance{
		restart: func() error {
			stopCmd(cmd, done)
			if cmd, err = start(); err != nil {
				return err
			}
			done = waitChan(cmd)
			return nil
		},
		stop: func() { stopCmd(cmd, done); f.Close() },
	}, nil
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}
