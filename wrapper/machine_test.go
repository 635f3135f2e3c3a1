package wrapper

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The state machine's unit tests: a supervisor whose effects are a fake
// that plays the processes and the clock, driven event by event through
// handle, as the loop would. No process runs and no time passes.

// fakeProc is one process the fake started.
type fakeProc struct {
	w       *worker
	alive   bool
	signals []syscall.Signal
	// left plays what else of w runs (its group's other processes), and
	// leftSignals what signalLeft sent them.
	left        bool
	leftSignals []syscall.Signal
}

// fakeTimer is a pending after.
type fakeTimer struct {
	d       time.Duration
	ev      event
	stopped bool
}

func (t *fakeTimer) Stop() bool { was := !t.stopped; t.stopped = true; return was }

type fakeEffects struct {
	nextPID  int
	procs    map[int]*fakeProc
	timers   []*fakeTimer
	startErr error
	forgot   []int
	holds    bool      // holdsSockets' answer for every worker
	clock    time.Time // now; only a test moves it
}

func newFakeEffects() *fakeEffects {
	return &fakeEffects{nextPID: 1000, procs: map[int]*fakeProc{}, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *fakeEffects) now() time.Time { return f.clock }

func (f *fakeEffects) start(w *worker) (int, error) {
	if f.startErr != nil {
		return 0, f.startErr
	}
	f.nextPID++
	f.procs[f.nextPID] = &fakeProc{w: w, alive: true}
	return f.nextPID, nil
}

func (f *fakeEffects) signalMain(w *worker, sig syscall.Signal) error {
	p := f.procs[w.mainPID]
	if p == nil || !p.alive {
		return unix.ESRCH
	}
	p.signals = append(p.signals, sig)
	return nil
}

func (f *fakeEffects) signalLeft(w *worker, sig syscall.Signal) {
	if p := f.procs[w.pid]; p != nil && p.left {
		p.leftSignals = append(p.leftSignals, sig)
		if sig == syscall.SIGKILL {
			p.left = false
		}
	}
}
func (f *fakeEffects) alive(w *worker) bool        { p := f.procs[w.pid]; return p != nil && p.left }
func (f *fakeEffects) holdsSockets(w *worker) bool { return f.holds }
func (f *fakeEffects) mainAlive(w *worker) bool    { p := f.procs[w.mainPID]; return p != nil && p.alive }
func (f *fakeEffects) forget(w *worker)            { f.forgot = append(f.forgot, w.pid) }

func (f *fakeEffects) owner(pid int) *worker {
	if p := f.procs[pid]; p != nil {
		return p.w
	}
	return nil
}

func (f *fakeEffects) after(d time.Duration, ev event) timer {
	t := &fakeTimer{d: d, ev: ev}
	f.timers = append(f.timers, t)
	return t
}

// machine is a supervisor under test.
type machine struct {
	t  *testing.T
	s  *supervisor
	fx *fakeEffects
}

func newMachine(t *testing.T, cfg Config) *machine {
	cfg.Command = []string{"server"}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.Ready.Kind == "" {
		cfg.Ready = Readiness{Kind: ReadyNotify}
	}
	cfg.setDefaults()
	s := newSupervisor(New(cfg), cfg)
	fx := newFakeEffects()
	s.fx = fx
	m := &machine{t: t, s: s, fx: fx}
	if err := s.start(firstStart); err != nil {
		t.Fatalf("first start: %v", err)
	}
	return m
}

// started lists the pids of generation n's workers.
func (m *machine) started(n int) []int {
	var pids []int
	for pid, p := range m.fx.procs {
		if p.w.g.n == n {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// serve plays every worker of generation n: exec'd, then READY=1.
func (m *machine) serve(n int) {
	m.t.Helper()
	pids := m.started(n)
	if len(pids) == 0 {
		m.t.Fatalf("generation %d has no process", n)
	}
	for _, pid := range pids {
		m.ready(pid)
	}
}

// ready plays one process: exec'd, then READY=1.
func (m *machine) ready(pid int) {
	m.t.Helper()
	p := m.fx.procs[pid]
	m.s.handle(execEvent{w: p.w})
	m.s.handle(notifyMessage{pid: pid, fields: map[string]string{"READY": "1"}})
}

func (m *machine) exit(pid, code int) {
	m.t.Helper()
	m.fx.procs[pid].alive = false
	m.s.handle(exitEvent{PID: pid, Status: syscall.WaitStatus(code << 8)})
}

// fire makes the first pending timer whose event matches fire.
func (m *machine) fire(what string, match func(event) bool) time.Duration {
	m.t.Helper()
	for _, t := range m.fx.timers {
		if !t.stopped && match(t.ev) {
			t.stopped = true
			m.s.handle(t.ev)
			return t.d
		}
	}
	m.t.Fatalf("no pending %s timer", what)
	return 0
}

func (m *machine) restart(source string) chan error {
	done := make(chan error, 1)
	m.s.handle(Request{Source: source, Done: done})
	return done
}

// servingGens is the generation serving each slot (0: none).
func (m *machine) servingGens() []int { return m.s.slotGens() }

func (m *machine) signals(pid int) []syscall.Signal { return m.fx.procs[pid].signals }

func answer(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	default:
		t.Fatal("the restart request has no answer yet")
		return nil
	}
}

func noAnswer(t *testing.T, done chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("the restart request was answered early: %v", err)
	default:
	}
}

func isTimer(kind timerKind) func(event) bool {
	return func(ev event) bool { te, ok := ev.(timerEvent); return ok && te.kind == kind }
}

// TestMachineRestart: the new generation starts first, and the old one is
// told to stop only once the new one is ready.
func TestMachineRestart(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	old := m.started(1)[0]
	done := m.restart("test")
	if len(m.started(2)) != 1 {
		t.Fatal("a restart did not start generation 2")
	}
	if sigs := m.signals(old); len(sigs) != 0 {
		t.Fatalf("generation 1 got %v before generation 2 was ready", sigs)
	}
	noAnswer(t, done)
	m.serve(2)
	if err := answer(t, done); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if sigs := m.signals(old); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("generation 1 got %v, want the stop signal once", sigs)
	}
	m.exit(old, 0)
	if len(m.s.gens) != 1 || m.s.gens[0].n != 2 || !slices.Equal(m.servingGens(), []int{2}) {
		t.Fatalf("after the old one exited: %d generations, serving %v; want generation 2 alone", len(m.s.gens), m.servingGens())
	}
	if st := m.s.snapshot(); st.Restarts != 1 || st.Rollbacks != 0 {
		t.Errorf("status: %d restarts, %d rollbacks; want 1, 0", st.Restarts, st.Rollbacks)
	}
}

// TestMachineRollback: a new generation that exits, or is not ready in
// time, is given up; the serving one is never signalled.
func TestMachineRollback(t *testing.T) {
	for _, how := range []string{"exits", "not ready in time", "cannot exec"} {
		t.Run(how, func(t *testing.T) {
			m := newMachine(t, Config{})
			m.serve(1)
			old := m.started(1)[0]
			done := m.restart("test")
			pid := m.started(2)[0]
			w := m.fx.procs[pid].w
			switch how {
			case "exits":
				m.s.handle(execEvent{w: w})
				m.exit(pid, 1)
			case "not ready in time":
				m.s.handle(execEvent{w: w})
				m.fire("ready timeout", isTimer(timerReadyTimeout))
			case "cannot exec":
				m.s.handle(execEvent{w: w, err: &StartError{"server", unix.ENOEXEC}})
			}
			if err := answer(t, done); err == nil {
				t.Fatal("the restart succeeded")
			}
			if sigs := m.signals(old); len(sigs) != 0 {
				t.Fatalf("the serving generation got %v", sigs)
			}
			if !slices.Equal(m.servingGens(), []int{1}) {
				t.Fatalf("serving %v, want generation 1", m.servingGens())
			}
			if how == "exits" || how == "not ready in time" {
				if st := m.s.snapshot(); st.Rollbacks != 1 {
					t.Errorf("%d rollbacks, want 1", st.Rollbacks)
				}
			}
		})
	}
}

// TestMachineCoalescing: requests that arrive while a restart runs make one
// more restart, not one each; every requester hears the outcome.
func TestMachineCoalescing(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	first := m.restart("first")
	var later []chan error
	for i := range 5 {
		later = append(later, m.restart(fmt.Sprint("later ", i)))
	}
	if n := len(m.fx.procs); n != 2 {
		t.Fatalf("%d processes started during the first restart, want 2", n)
	}
	m.serve(2)
	if err := answer(t, first); err != nil {
		t.Fatal(err)
	}
	for _, done := range later {
		noAnswer(t, done)
	}
	if len(m.started(3)) != 1 {
		t.Fatal("the queued restart did not start generation 3")
	}
	m.serve(3)
	for _, done := range later {
		if err := answer(t, done); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(m.fx.procs); n != 3 {
		t.Errorf("%d processes started for 6 requests, want 3", n)
	}
}

// TestMachineRollingRollout: workers are replaced one slot at a time and
// capacity never drops below --workers.
func TestMachineRollingRollout(t *testing.T) {
	const n = 3
	m := newMachine(t, Config{Workers: n, Rollout: RolloutRolling})
	if len(m.started(1)) != n {
		t.Fatalf("the first start started %d workers, want %d at once", len(m.started(1)), n)
	}
	m.serve(1)
	olds := m.started(1)
	done := m.restart("test")
	for slot := range n {
		news := m.started(2)
		if len(news) != slot+1 {
			t.Fatalf("step %d: generation 2 has %d workers, want %d (one at a time)", slot, len(news), slot+1)
		}
		m.ready(news[slot])
		serving := 0
		for _, g := range m.servingGens() {
			if g != 0 {
				serving++
			}
		}
		if serving != n {
			t.Fatalf("step %d: %d slots serving (%v), want %d", slot, serving, m.servingGens(), n)
		}
		for i, old := range olds {
			want := 0
			if i <= slot {
				want = 1
			}
			if got := len(m.signals(old)); got != want {
				t.Fatalf("step %d: old worker %d got %d stop signals, want %d", slot, i, got, want)
			}
		}
	}
	if err := answer(t, done); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.servingGens(), []int{2, 2, 2}) {
		t.Errorf("serving %v, want generation 2 in every slot", m.servingGens())
	}
}

// TestMachineCrashBackoff: a crashed child is started again after a delay
// that doubles with each crash in a row.
func TestMachineCrashBackoff(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	var delays []time.Duration
	for gen := 1; gen <= 4; gen++ {
		m.exit(m.started(gen)[0], 1)
		delays = append(delays, m.fire("backoff", func(ev event) bool { _, ok := ev.(backoffEvent); return ok }))
		if len(m.started(gen+1)) != 1 {
			t.Fatalf("crash %d: no generation started after the backoff", gen)
		}
		m.serve(gen + 1)
	}
	want := []time.Duration{DefaultBackoffMin, 2 * DefaultBackoffMin, 4 * DefaultBackoffMin, 8 * DefaultBackoffMin}
	if !slices.Equal(delays, want) {
		t.Errorf("backoffs %v, want %v", delays, want)
	}
	if st := m.s.snapshot(); st.Crashes != 4 {
		t.Errorf("%d crashes, want 4", st.Crashes)
	}
}

// TestMachineStopTimeout: a generation that ignores the stop signal is
// killed when the stop timeout fires, and the loop is then done.
func TestMachineStopTimeout(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	pid := m.started(1)[0]
	m.s.shutdown("test")
	m.fire("stop timeout", isTimer(timerStop))
	if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}) {
		t.Fatalf("signals %v, want SIGTERM then SIGKILL", sigs)
	}
	m.exit(pid, 0)
	if !m.s.stopping || len(m.s.gens) != 0 {
		t.Fatalf("stopping=%v with %d generations left; want stopping with none", m.s.stopping, len(m.s.gens))
	}
}

// TestMachineMainExitOnce: a main process taken for gone by its pidfd
// before the reaper reports it is one exit, not two crashes; the status
// the reaper brings is kept.
func TestMachineMainExitOnce(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	pid := m.started(1)[0]
	w := m.fx.procs[pid].w
	w.statusUnknown = true
	m.s.onMainExit(w, 0) // as onMainGone does when the reaper has not spoken
	m.exit(pid, 3)
	if st := m.s.snapshot(); st.Crashes != 1 {
		t.Errorf("%d crashes for one exit, want 1", st.Crashes)
	}
	if w.statusUnknown || w.status.ExitStatus() != 3 {
		t.Errorf("status unknown=%v exit=%d, want the reaper's exit status 3", w.statusUnknown, w.status.ExitStatus())
	}
}
