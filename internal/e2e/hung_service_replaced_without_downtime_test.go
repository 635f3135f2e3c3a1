package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Guarantee: A hung service is replaced without downtime (--watchdog).

// TestHungServerReplacedUnderLoad: servers that hang (no more WATCHDOG=1,
// no more accept; the test server's -watchdog-stop-after) are replaced
// under load, each hung one getting SIGABRT only once its replacement is
// ready. No request fails: the clients wait in the sockets' queue until the
// replacement accepts.
func TestHungServerReplacedUnderLoad(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--watchdog", "1s", "--no-watch", "--",
		bin("testserver"), "-notify", "-watchdog-stop-after", "1s")
	pid := z.readyPID(1)
	env := readEnviron(t, pid)
	if env["WATCHDOG_USEC"] != "1000000" || env["WATCHDOG_PID"] != fmt.Sprint(pid) {
		t.Errorf("the child got WATCHDOG_USEC=%q WATCHDOG_PID=%q, want 1000000 and its pid %d", env["WATCHDOG_USEC"], env["WATCHDOG_PID"], pid)
	}
	z.waitLog(fmt.Sprintf(`server: generation=1 pid=%d .* watchdog: pinging every 500ms`, pid))
	cfg := loadConfig(z.addr)
	cfg.Concurrency = 8 // a shared machine; a refusal shows with 8 as with 32
	load := startLoadWith(t, cfg)
	waitRequests(t, load, 100)

	const hangs = 2
	for gen := 1; gen <= hangs; gen++ {
		z.waitLog(fmt.Sprintf(`msg="watchdog: worker hung, replacing it" gen=%d pid=%d why="no WATCHDOG=1 within 1s" signal_once_replaced=SIGABRT`, gen, pid))
		next := z.readyPID(gen + 1)
		z.waitLog(fmt.Sprintf(`msg="stopping generation" gen=%d pid=%d signal=SIGABRT why="replaced by generation %d \(hung: watchdog signal\)"`, gen, pid, gen+1))
		// A Go server's runtime dumps its goroutines on SIGABRT and exits 2
		// (dies by it with GOTRACEBACK=crash).
		z.waitLog(fmt.Sprintf(`msg="generation exited" gen=%d pid=%d status="(exit status 2|killed by SIGABRT)"`, gen, pid))
		waitRequests(t, load, 100)
		pid = next
	}
	if n := z.countLog(`SIGABRT: abort`); n < hangs {
		t.Errorf("%d goroutine dumps of SIGABRT in the output, want %d", n, hangs)
	}
	stopLoad(t, load, fmt.Sprintf("%d hung servers replaced under load", hangs))
}

// watchdogScript is a server in Python that speaks sd_notify itself
// (socket.sendmsg, no library): READY=1, then, in generation 1,
// WATCHDOG=trigger. It dies by SIGABRT (Python's default) without a core.
const watchdogScript = `
import os, resource, socket, sys, time

resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

` + pyNotify + `
gen = os.environ["ZEDR_GENERATION"]
mine = os.environ.get("WATCHDOG_PID") == str(os.getpid())
print("py gen=%s watchdog_usec=%s watchdog_pid_mine=%s" % (gen, os.environ.get("WATCHDOG_USEC"), mine), file=sys.stderr, flush=True)
notify("READY=1")
if gen == "1":
    notify("WATCHDOG=trigger")
while True:
    time.sleep(60)
`

// TestWatchdogTrigger: WATCHDOG=trigger from a child replaces it at once,
// and it gets --watchdog-signal once the replacement is ready.
func TestWatchdogTrigger(t *testing.T) {
	python := needTool(t, "/usr/bin/python3")
	script := filepath.Join(t.TempDir(), "hang.py")
	writeFile(t, script, []byte("#!"+python+"\n"+watchdogScript), 0o755)
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "notify", "--watchdog", "1m", "--no-watch", "--", script)
	pid := z.readyPID(1)
	z.waitLog(`py gen=1 watchdog_usec=60000000 watchdog_pid_mine=True`)
	z.waitLog(fmt.Sprintf(`msg="watchdog: worker hung, replacing it" gen=1 pid=%d why="WATCHDOG=trigger"`, pid))
	z.readyPID(2)
	z.waitLog(fmt.Sprintf(`msg="generation exited" gen=1 pid=%d status="killed by SIGABRT"`, pid))
	if n := z.countLog(`msg="generation started"`); n != 2 {
		t.Errorf("%d generations started, want 2: generation 2 sent no trigger", n)
	}
}

// TestPingsItsWatchdog: under a service manager that asks for a watchdog
// (WATCHDOG_USEC), zedr-run sends it WATCHDOG=1 on its NOTIFY_SOCKET, read
// here as systemd reads it; its children never see those variables.
func TestPingsItsWatchdog(t *testing.T) {
	mgr := newManagerSocket(t)
	cmd := execZedr("--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--no-watch", "--", bin("testserver"))
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+mgr.path, "WATCHDOG_USEC=200000")
	z := startCmd(t, cmd, true)
	pings := 0
	err := mgr.until(func(msg managerMessage) bool {
		if msg.text == "WATCHDOG=1" {
			pings++
		}
		return pings == 3
	})
	if err != nil {
		t.Fatalf("waiting for WATCHDOG=1 (%d so far): %v", pings, err)
	}
	env := readEnviron(t, z.readyPID(1))
	for _, k := range []string{"WATCHDOG_USEC", "WATCHDOG_PID"} {
		if v, ok := env[k]; ok {
			t.Errorf("the child got zedr-run's %s=%s", k, v)
		}
	}
}
