package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startTableflip runs the test server built against cloudflare/tableflip
// (testdata/server/tableflip.go, -tags tableflip): the server process holds
// the socket and on SIGHUP starts its successor itself, which inherits the
// socket and writes its pid to the PID file once ready; the old process
// then drains and exits. Each restart signals the pid in the PID file, as
// tableflip's users do (tableflip upgrades only once the predecessor has
// exited, which restartOnce waits for).
func startTableflip(e *env, addr string, d time.Duration) (*instance, error) {
	dir, err := os.MkdirTemp(e.tmp, "tableflip-")
	if err != nil {
		return nil, err
	}
	pidFile := filepath.Join(dir, "server.pid")
	cmd, err := e.proc(nil, e.tableflipServer, append([]string{"-listen", addr, "-tableflip", pidFile}, e.serverArgs(d)...)...)
	if err != nil {
		return nil, err
	}
	done := waitChan(cmd)
	// current is the serving process: the first until a successor is ready.
	current := func() (int, error) {
		b, err := os.ReadFile(pidFile)
		if os.IsNotExist(err) {
			return cmd.Process.Pid, nil
		}
		if err != nil {
			return 0, err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("tableflip pid file %s: %q", pidFile, b)
		}
		return pid, nil
	}
	return &instance{
		restart: func() error {
			pid, err := current()
			if err != nil {
				return err
			}
			return syscall.Kill(pid, syscall.SIGHUP)
		},
		stop: func() {
			defer os.RemoveAll(dir)
			pid, err := current()
			if err != nil || pid == cmd.Process.Pid {
				stopCmd(cmd, done)
				return
			}
			// A successor is not our child: signal it and wait until it is
			// gone, then reap the first process (long gone; its Wait also
			// waits for the output the successors inherited).
			syscall.Kill(pid, syscall.SIGTERM)
			for deadline := time.Now().Add(15 * time.Second); !gone(pid); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					deadline = time.Now().Add(time.Hour)
				}
			}
			<-done
		},
	}, nil
}
