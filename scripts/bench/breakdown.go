package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Where a restart's time goes: zedr-run's debug line "restart phases"
// (wrapper/phases_linux.go) times each step of every restart on its own
// clock; the breakdown is their median and p90 per phase, by number of
// --listen sockets.

// phaseNames are the phases in the order of a restart, then the total.
var phaseNames = []string{"queue", "fork", "shim", "exec", "child", "switch", "drain", "total"}

// ownPhases are zedr-run's own share of a restart: everything but the
// child's start-up and its drain, which are the service's.
var ownPhases = []string{"queue", "fork", "shim", "switch"}

// phaseLine is one restart's phases.
type phaseLine struct {
	gen int
	d   map[string]time.Duration
}

func (p phaseLine) own() time.Duration {
	var t time.Duration
	for _, k := range ownPhases {
		t += p.d[k]
	}
	return t
}

// ownWithExec is the own share with the kernel's exec counted whole as
// zedr-run's: the exec tears the shim down (zedr-run's) and loads the
// command (the command's), and the line cannot tell the two apart.
func (p phaseLine) ownWithExec() time.Duration { return p.own() + p.d["exec"] }

var phasesRE = regexp.MustCompile(`msg="restart phases" gen=(\d+) `)
var phaseFieldRE = regexp.MustCompile(`(\w+)_us=(\d+)`)

// parsePhases reads a "restart phases" log line.
func parsePhases(line string) (phaseLine, bool) {
	m := phasesRE.FindStringSubmatch(line)
	if m == nil {
		return phaseLine{}, false
	}
	p := phaseLine{d: map[string]time.Duration{}}
	p.gen, _ = strconv.Atoi(m[1])
	for _, f := range phaseFieldRE.FindAllStringSubmatch(line, -1) {
		us, _ := strconv.ParseInt(f[2], 10, 64)
		p.d[f[1]] = time.Duration(us) * time.Microsecond
	}
	return p, true
}

// traced is a zedr-run started with debug logs, whose restart phases come
// on a channel.
type traced struct {
	cmd    *exec.Cmd
	done   <-chan error
	phases chan phaseLine
	ready  chan struct{} // closed at the first "generation ready"
}

// startTraced starts zedr-run with args (its options, "--", the command).
func (e *env) startTraced(args ...string) (*traced, error) {
	cmd := exec.Command(e.zedrRun, append([]string{"--log-level", "debug"}, args...)...)
	cmd.Stdout = e.log
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	z := &traced{cmd: cmd, done: waitChan(cmd), phases: make(chan phaseLine, 64), ready: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		readySeen := false
		for sc.Scan() {
			line := sc.Text()
			if p, ok := parsePhases(line); ok {
				z.phases <- p
				continue // thousands of them: not in the log
			}
			fmt.Fprintln(e.log, line)
			if !readySeen && strings.Contains(line, `msg="generation ready"`) {
				readySeen = true
				close(z.ready)
			}
		}
	}()
	select {
	case <-z.ready:
		return z, nil
	case err := <-z.done:
		return nil, fmt.Errorf("zedr-run exited before its first generation was ready: %v (see contenders.log)", err)
	case <-time.After(60 * time.Second):
		z.stop()
		return nil, fmt.Errorf("zedr-run's first generation not ready after 60s (see contenders.log)")
	}
}

func (z *traced) stop() { stopCmd(z.cmd, z.done) }

// restart restarts once and waits until the old generation is gone: the
// phases of generation gen.
func (z *traced) restart(gen int) (phaseLine, error) {
	if err := z.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		return phaseLine{}, err
	}
	timeout := time.After(60 * time.Second)
	for {
		select {
		case p := <-z.phases:
			if p.gen == gen {
				return p, nil
			}
		case err := <-z.done:
			return phaseLine{}, fmt.Errorf("zedr-run exited: %v (see contenders.log)", err)
		case <-timeout:
			return phaseLine{}, fmt.Errorf("no phases of generation %d within 60s of SIGUSR2 (see contenders.log)", gen)
		}
	}
}

// breakdown is the phases of restarts with the same setup.
type breakdown struct {
	Sockets  int
	Restarts int
	P50, P90 map[string]time.Duration // by phase name, "own" and "own+exec"
}

// summarizePhases returns the median and p90 of each phase, and of
// zedr-run's own share, over ps.
func summarizePhases(sockets int, ps []phaseLine) breakdown {
	b := breakdown{Sockets: sockets, Restarts: len(ps), P50: map[string]time.Duration{}, P90: map[string]time.Duration{}}
	for _, k := range append(slices.Clone(phaseNames), "own", "own+exec") {
		ds := make([]time.Duration, len(ps))
		for i, p := range ps {
			switch k {
			case "own":
				ds[i] = p.own()
			case "own+exec":
				ds[i] = p.ownWithExec()
			default:
				ds[i] = p.d[k]
			}
		}
		b.P50[k], b.P90[k] = quantile(ds, 0.5), quantile(ds, 0.9)
	}
	return b
}

// quantile returns the q-quantile of ds (nearest rank), 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return nearestRank(s, q)
}

// listenArgs returns n --listen options on loopback ports the kernel picks.
func listenArgs(n int) []string {
	var args []string
	for range n {
		args = append(args, "--listen", "tcp:127.0.0.1:0")
	}
	return args
}

// breakdownTable returns the breakdown as a Markdown table: median / p90
// of each phase, one row per number of sockets.
func breakdownTable(bs []breakdown) string {
	var b strings.Builder
	b.WriteString("| sockets | restarts |")
	for _, k := range phaseNames {
		fmt.Fprintf(&b, " %s |", k)
	}
	b.WriteString(" **zedr-run's own** (queue+fork+shim+switch) | own + exec |\n|--:|--:|")
	for range len(phaseNames) + 2 {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	for _, r := range bs {
		fmt.Fprintf(&b, "| %d | %d |", r.Sockets, r.Restarts)
		for _, k := range append(slices.Clone(phaseNames), "own", "own+exec") {
			fmt.Fprintf(&b, " %s / %s |", fmtDur(r.P50[k]), fmtDur(r.P90[k]))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// breakdownText explains the table.
const breakdownText = `Where a restart's time goes (median / p90 per phase), from zedr-run's own debug line ` + "`restart phases`" + `,
restarting the test server (` + "`--ready notify`" + `, ready as soon as it runs) with no load, one restart at a
time: **queue** the restart reaching the fork (the loop's own work), **fork** the order to the spare shim
(or, without one, the fork of a shim: the environment, the cgroup leaf and the status channel),
**shim** the spare waking (or zedr-run re-executed as the shim) until it calls execve, **exec** the
kernel's execve, which tears the shim down (zedr-run's) and loads the command (the server's) and cannot
be split, **child** the server's own start-up until READY=1, **switch** ready until the old one is told
to stop, **drain** the old one's stop. zedr-run's own share is queue + fork + shim + switch; the last
column counts the exec whole as zedr-run's too.
`
