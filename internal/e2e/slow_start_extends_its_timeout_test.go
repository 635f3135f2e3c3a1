package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: A slow start that says so (EXTEND_TIMEOUT_USEC) is not rolled
// back, and systemd hears it.

// slowStartScript is a server in Python that speaks sd_notify itself: it
// takes three seconds to start, saying EXTEND_TIMEOUT_USEC=2s every half
// second, then READY=1.
const slowStartScript = `
import os, socket, time

` + pyNotify + `
for _ in range(6):
    notify("EXTEND_TIMEOUT_USEC=2000000")
    time.sleep(0.5)
notify("READY=1")
while True:
    time.sleep(60)
`

// TestSlowStartExtendsReadyTimeout: a child that keeps extending its
// timeout becomes ready long after --ready-timeout, at the first start and
// in a restart, and zedr-run, as a Type=notify service, passes the
// extensions on to its own service manager (a NOTIFY_SOCKET read here as
// systemd reads it) before its READY=1.
func TestSlowStartExtendsReadyTimeout(t *testing.T) {
	python := needTool(t, "/usr/bin/python3")
	dir := t.TempDir()
	script := filepath.Join(dir, "slow.py")
	writeFile(t, script, []byte("#!"+python+"\n"+slowStartScript), 0o755)
	mgr := newManagerSocket(t)
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--ready-timeout", "1s", "--no-watch", "--", script)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+mgr.path)
	z := startCmd(t, cmd, true)

	// extensions counts the EXTEND_TIMEOUT_USEC=2000000 messages until
	// READY=1.
	extensions := func(what string) int {
		t.Helper()
		extended := 0
		err := mgr.until(func(msg managerMessage) bool {
			if msg.text == "EXTEND_TIMEOUT_USEC=2000000" {
				extended++
			}
			return strings.Contains(msg.text, "READY=1")
		})
		if err != nil {
			t.Fatalf("%s: waiting for READY=1 (%d extensions passed on): %v\n%s", what, extended, err, z.log())
		}
		return extended
	}
	first := extensions("first start")
	z.readyPID(1)
	z.waitLog(`msg="ready timeout extended" gen=1 pid=\d+ by=EXTEND_TIMEOUT_USEC from_now=2s`)

	// A restart: zedr-run says RELOADING=1, and systemd's reload waits for
	// READY=1 with TimeoutStartSec=.
	z.signal(syscall.SIGUSR2)
	restart := extensions("restart")
	z.readyPID(2)
	if first == 0 || restart == 0 {
		t.Errorf("extensions passed on: %d at the first start, %d in a restart; want some in both", first, restart)
	}
	if n := z.countLog(`failed before ready|rolled back|msg="generation started" gen=3`); n != 0 {
		t.Errorf("a slow start was given up (%d lines)", n)
	}
	t.Logf("extensions passed on: %d at the first start, %d in a restart", first, restart)
}
