package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"zedr-run/internal/loadgen"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user+system CPU time pid has used itself (not its children).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // f[0] is field 3, state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// rss returns VmRSS of pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

var exitedRE = regexp.MustCompile(`msg="generation exited" gen=(\d+)`)

// throughput is how the ratio direct / under zedr-run is measured: pairs of
// rounds, direct then under zedr-run, interleaved (A, B, A, B, ...) so that
// the machine's noise falls on both alike; each pair gives one ratio.
type throughput struct {
	pairs int
	round time.Duration
}

// measureCost runs the server directly and under zedr-run in turns for the
// throughput ratio (zedr-run's CPU and RSS measured meanwhile), then
// restarts zedr-run's server n times in a row without load.
func (e *env) measureCost(n int, tput throughput) (costStats, error) {
	var c costStats
	addr, err := freeAddr()
	if err != nil {
		return c, err
	}
	cmd := exec.Command(e.zedrRun, "--listen", "tcp:"+addr, "--ready", "notify", "--", e.server, "-notify")
	cmd.Stdout = e.log
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return c, err
	}
	if err := cmd.Start(); err != nil {
		return c, err
	}
	done := waitChan(cmd)
	defer stopCmd(cmd, done)
	exited := make(chan int, n+10)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(e.log, sc.Text())
			if m := exitedRE.FindStringSubmatch(sc.Text()); m != nil {
				g, _ := strconv.Atoi(m[1])
				exited <- g
			}
		}
	}()
	pid := cmd.Process.Pid
	if _, err := waitServing(addr, 0, 30*time.Second); err != nil {
		return c, err
	}

	direct, err := freeAddr()
	if err != nil {
		return c, err
	}
	var directReqs, wrappedReqs int
	var directFor, wrappedFor time.Duration
	for range tput.pairs {
		r, err := e.directRound(direct, tput.round)
		if err != nil {
			return c, err
		}
		directReqs, directFor = directReqs+r.OK, directFor+r.Elapsed
		directRPS := float64(r.OK) / r.Elapsed.Seconds()
		cpu0, err := cpuTime(pid)
		if err != nil {
			return c, err
		}
		r, err = e.load(addr, tput.round)
		if err != nil {
			return c, err
		}
		cpu1, err := cpuTime(pid)
		if err != nil {
			return c, err
		}
		wrappedReqs, wrappedFor = wrappedReqs+r.OK, wrappedFor+r.Elapsed
		c.ServeCPU += cpu1 - cpu0
		if r.Failed() > 0 {
			return c, fmt.Errorf("load under zedr-run: %v %q", r, r.Errors)
		}
		c.Ratios = append(c.Ratios, float64(r.OK)/r.Elapsed.Seconds()/directRPS)
	}
	c.PairRound = tput.round
	c.ServeFor, c.ServeRequests = wrappedFor, wrappedReqs
	c.DirectRPS = float64(directReqs) / directFor.Seconds()
	c.WrappedRPS = float64(wrappedReqs) / wrappedFor.Seconds()
	if c.ServeRSS, err = rss(pid); err != nil {
		return c, err
	}

	c.Restarts, c.RSSBefore = n, c.ServeRSS
	cpu0, err := cpuTime(pid)
	if err != nil {
		return c, err
	}
	t0 := time.Now()
	for gen := 1; gen <= n; gen++ {
		if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			return c, err
		}
		if err := waitExited(exited, gen); err != nil {
			return c, err
		}
	}
	c.RestartsFor = time.Since(t0)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return c, err
	}
	c.RestartsCPU = cpu1 - cpu0
	c.RSSAfter, err = rss(pid)
	return c, err
}

func waitExited(exited <-chan int, gen int) error {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case g := <-exited:
			if g == gen {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("generation %d did not exit within 30s of SIGUSR2 (see contenders.log)", gen)
		}
	}
}

// directRound runs the server on addr itself for one round of load.
func (e *env) directRound(addr string, d time.Duration) (loadgen.Result, error) {
	cmd, err := e.proc(nil, e.server, "-listen", addr)
	if err != nil {
		return loadgen.Result{}, err
	}
	done := waitChan(cmd)
	defer stopCmd(cmd, done)
	if _, err := waitServing(addr, 0, 30*time.Second); err != nil {
		return loadgen.Result{}, err
	}
	r, err := e.load(addr, d)
	if err == nil && r.Failed() > 0 {
		err = fmt.Errorf("load on the server run directly: %v %q", r, r.Errors)
	}
	return r, err
}

func (e *env) load(addr string, d time.Duration) (loadgen.Result, error) {
	return loadgen.Run(context.Background(), loadgen.Config{Addr: addr, Concurrency: e.concurrency, KeepAlive: e.keepAlive, Duration: d})
}
