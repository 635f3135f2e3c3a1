package wrapper

import (
	"log/slog"
	"slices"
	"syscall"
	"testing"
	"time"

	"zedr-run/reexec"
)

// The state machine with --watchdog: a serving worker that stops sending
// WATCHDOG=1 is replaced first and killed with the watchdog signal after.

func isWatchdog(ev event) bool { return isTimer(timerWatchdog)(ev) }

// notify plays a message from pid.
func (m *machine) notify(pid int, key, value string) {
	m.s.handle(notifyMessage{pid: pid, fields: map[string]string{key: value}})
}

// pendingTimers counts the timers of kind not stopped.
func (m *machine) pendingTimers(kind timerKind) int {
	n := 0
	for _, t := range m.fx.timers {
		if !t.stopped && isTimer(kind)(t.ev) {
			n++
		}
	}
	return n
}

var abrt = []syscall.Signal{syscall.SIGABRT}

// TestMachineWatchdogReplacesHung: WATCHDOG=1 keeps a worker serving; once
// it stops, a new generation starts, and the hung one gets SIGABRT only
// when the new one is ready.
func TestMachineWatchdogReplacesHung(t *testing.T) {
	m := newMachine(t, Config{Watchdog: 2 * time.Second})
	m.serve(1)
	old := m.started(1)[0]
	m.fx.clock = m.fx.clock.Add(time.Second)
	m.notify(old, "WATCHDOG", "1")
	m.fx.clock = m.fx.clock.Add(1500 * time.Millisecond)
	if d := m.fire("watchdog", isWatchdog); d != 2*time.Second {
		t.Fatalf("watchdog armed for %v, want 2s", d)
	}
	if len(m.started(2)) != 0 {
		t.Fatal("a worker that sent WATCHDOG=1 1.5s ago was replaced")
	}
	m.fx.clock = m.fx.clock.Add(500 * time.Millisecond)
	if d := m.fire("watchdog", isWatchdog); d != 500*time.Millisecond {
		t.Fatalf("watchdog re-armed for %v, want the 500ms left of the interval", d)
	}
	if len(m.started(2)) != 1 {
		t.Fatal("a worker silent for its watchdog interval was not replaced")
	}
	if sigs := m.signals(old); len(sigs) != 0 {
		t.Fatalf("the hung worker got %v before its replacement was ready", sigs)
	}
	if !slices.Equal(m.servingGens(), []int{1}) {
		t.Fatalf("serving %v while the replacement starts, want generation 1", m.servingGens())
	}
	m.serve(2)
	if sigs := m.signals(old); !slices.Equal(sigs, abrt) {
		t.Fatalf("the hung worker got %v, want SIGABRT once", sigs)
	}
	if !slices.Equal(m.servingGens(), []int{2}) {
		t.Fatalf("serving %v, want generation 2", m.servingGens())
	}
	if m.s.gens[len(m.s.gens)-1].why != watchdogWhy {
		t.Errorf("generation 2 started for %q, want %q", m.s.gens[len(m.s.gens)-1].why, watchdogWhy)
	}
	if m.pendingTimers(timerWatchdog) != 1 {
		t.Errorf("%d watchdog timers pending, want 1: generation 2's", m.pendingTimers(timerWatchdog))
	}
}

// TestMachineWatchdogSignal: --watchdog-signal replaces SIGABRT.
func TestMachineWatchdogSignal(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Second, WatchdogSignal: syscall.SIGQUIT})
	m.serve(1)
	old := m.started(1)[0]
	m.fx.clock = m.fx.clock.Add(time.Second)
	m.fire("watchdog", isWatchdog)
	m.serve(2)
	if sigs := m.signals(old); !slices.Equal(sigs, []syscall.Signal{syscall.SIGQUIT}) {
		t.Fatalf("the hung worker got %v, want SIGQUIT", sigs)
	}
}

// TestMachineWatchdogTrigger: WATCHDOG=trigger from the worker is a hang
// now.
func TestMachineWatchdogTrigger(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Minute})
	m.serve(1)
	old := m.started(1)[0]
	m.notify(old, "WATCHDOG", "trigger")
	if len(m.started(2)) != 1 {
		t.Fatal("WATCHDOG=trigger started no replacement")
	}
	m.serve(2)
	if sigs := m.signals(old); !slices.Equal(sigs, abrt) {
		t.Fatalf("the triggered worker got %v, want SIGABRT", sigs)
	}
}

// TestMachineWatchdogOff: without --watchdog, WATCHDOG= messages do nothing
// and no watchdog runs.
func TestMachineWatchdogOff(t *testing.T) {
	m := newMachine(t, Config{})
	m.serve(1)
	m.notify(m.started(1)[0], "WATCHDOG", "trigger")
	if len(m.started(2)) != 0 || m.pendingTimers(timerWatchdog) != 0 {
		t.Fatalf("with no --watchdog: %d processes of generation 2, %d watchdog timers", len(m.started(2)), m.pendingTimers(timerWatchdog))
	}
	if env := m.s.watchdogEnv(); env != nil {
		t.Errorf("children's watchdog environment %v, want none", env)
	}
}

// TestMachineWatchdogEnv: WATCHDOG_USEC is the interval in microseconds.
func TestMachineWatchdogEnv(t *testing.T) {
	m := newMachine(t, Config{Watchdog: 1500 * time.Millisecond})
	if env := m.s.watchdogEnv(); !slices.Equal(env, []string{"WATCHDOG_USEC=1500000"}) {
		t.Errorf("children's watchdog environment %v", env)
	}
}

// TestMachineWatchdogCoalesces: a worker that hangs while a restart is
// already starting its replacement starts nothing more; the restart's
// generation replaces it, with the watchdog signal.
func TestMachineWatchdogCoalesces(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Second})
	m.serve(1)
	old := m.started(1)[0]
	done := m.restart("test")
	m.fx.clock = m.fx.clock.Add(time.Second)
	m.fire("watchdog", isWatchdog)
	m.notify(old, "WATCHDOG", "trigger")
	if n := len(m.fx.procs); n != 2 {
		t.Fatalf("%d processes started, want 2: the restart's replaces the hung one", n)
	}
	m.serve(2)
	if err := answer(t, done); err != nil {
		t.Fatal(err)
	}
	if sigs := m.signals(old); !slices.Equal(sigs, abrt) {
		t.Fatalf("the hung worker got %v, want SIGABRT", sigs)
	}
	if m.s.queued || len(m.started(3)) != 0 {
		t.Fatal("the hang queued another restart")
	}
}

// TestMachineWatchdogOwner: only a process of the serving worker's own
// generation feeds its watchdog or triggers it.
func TestMachineWatchdogOwner(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Second})
	m.serve(1)
	old := m.started(1)[0]
	m.notify(4242, "WATCHDOG", "trigger") // no process of any generation
	if len(m.started(2)) != 0 {
		t.Fatal("WATCHDOG=trigger from a stranger started a generation")
	}
	done := m.restart("test")
	next := m.started(2)[0]
	m.s.handle(execEvent{w: m.fx.procs[next].w})
	m.fx.clock = m.fx.clock.Add(time.Second)
	m.notify(4242, "WATCHDOG", "1")
	m.notify(next, "WATCHDOG", "1") // the starting generation's, not the serving one's
	m.fire("watchdog", isWatchdog)
	if !m.fx.procs[old].w.hung {
		t.Fatal("WATCHDOG=1 from other processes kept the serving worker's watchdog quiet")
	}
	m.notify(next, "READY", "1")
	if err := answer(t, done); err != nil {
		t.Fatal(err)
	}
	if sigs := m.signals(old); !slices.Equal(sigs, abrt) {
		t.Fatalf("the hung worker got %v, want SIGABRT", sigs)
	}
}

// TestMachineWatchdogReplacementFails: a hung worker whose replacement is
// rolled back keeps serving, unsignalled, and is tried again after another
// interval.
func TestMachineWatchdogReplacementFails(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Second})
	m.serve(1)
	old := m.started(1)[0]
	m.fx.clock = m.fx.clock.Add(time.Second)
	m.fire("watchdog", isWatchdog)
	next := m.started(2)[0]
	m.s.handle(execEvent{w: m.fx.procs[next].w})
	m.exit(next, 1)
	if sigs := m.signals(old); len(sigs) != 0 {
		t.Fatalf("the hung worker got %v after its replacement failed", sigs)
	}
	if !slices.Equal(m.servingGens(), []int{1}) {
		t.Fatalf("serving %v, want the hung generation 1", m.servingGens())
	}
	if m.s.backoffTimer != nil || len(m.started(3)) != 0 {
		t.Fatal("the failed replacement was retried at once, or through the crash backoff")
	}
	m.fx.clock = m.fx.clock.Add(time.Second)
	m.fire("watchdog", isWatchdog)
	if len(m.started(3)) != 1 {
		t.Fatal("the still hung worker's replacement was not tried again")
	}
	m.serve(3)
	if sigs := m.signals(old); !slices.Equal(sigs, abrt) {
		t.Fatalf("the hung worker got %v, want SIGABRT", sigs)
	}
	if st := m.s.snapshot(); st.Crashes != 0 {
		t.Errorf("%d crashes counted, want 0", st.Crashes)
	}
}

// TestMachineWatchdogTriggerLoop: a worker that sends WATCHDOG=1 and
// WATCHDOG=trigger in turn cannot have a failing replacement started again
// at once, in a loop: one trigger counts a watchdog interval.
func TestMachineWatchdogTriggerLoop(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Minute})
	m.serve(1)
	old := m.started(1)[0]
	m.notify(old, "WATCHDOG", "trigger")
	next := m.started(2)[0]
	m.s.handle(execEvent{w: m.fx.procs[next].w})
	m.exit(next, 1)
	m.notify(old, "WATCHDOG", "1")
	m.notify(old, "WATCHDOG", "trigger")
	if len(m.started(3)) != 0 {
		t.Fatal("a second WATCHDOG=trigger at once started another replacement")
	}
	m.fx.clock = m.fx.clock.Add(time.Minute)
	m.notify(old, "WATCHDOG", "1")
	m.notify(old, "WATCHDOG", "trigger")
	if len(m.started(3)) != 1 {
		t.Fatal("a WATCHDOG=trigger an interval later started no replacement")
	}
}

// TestMachineWatchdogRecovers: a hung worker that answers again is stopped
// with the stop signal, not the watchdog's, once replaced.
func TestMachineWatchdogRecovers(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Second})
	m.serve(1)
	old := m.started(1)[0]
	m.notify(old, "WATCHDOG", "trigger")
	m.notify(old, "WATCHDOG", "1")
	m.serve(2)
	if sigs := m.signals(old); !slices.Equal(sigs, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("the recovered worker got %v, want SIGTERM", sigs)
	}
}

// TestMachineWatchdogWorkers: each worker is its own watchdog; a hung one
// is replaced in its slot alone.
func TestMachineWatchdogWorkers(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Second, Workers: 3})
	m.serve(1)
	olds := m.started(1)
	m.notify(olds[1], "WATCHDOG", "trigger")
	news := m.started(2)
	if len(news) != 1 || m.fx.procs[news[0]].w.slot != 1 {
		t.Fatalf("generation 2 has %d workers, want one for slot 1", len(news))
	}
	m.serve(2)
	if !slices.Equal(m.servingGens(), []int{1, 2, 1}) {
		t.Fatalf("serving %v, want generation 2 in slot 1 alone", m.servingGens())
	}
	for i, pid := range olds {
		want := []syscall.Signal(nil)
		if i == 1 {
			want = abrt
		}
		if sigs := m.signals(pid); !slices.Equal(sigs, want) {
			t.Errorf("old worker %d got %v, want %v", i, sigs, want)
		}
	}
}

// TestMachineOuterWatchdog: under a service manager that asks for a
// watchdog, the loop pings it with WATCHDOG=1 every half interval, from a
// timer event it handles itself.
func TestMachineOuterWatchdog(t *testing.T) {
	o := newOuterManager(t)
	m := newMachine(t, Config{OuterNotify: o.path, OuterWatchdog: 4 * time.Second})
	defer m.s.outer.Close()
	m.s.armOuterWatchdog()
	isPing := func(ev event) bool { _, ok := ev.(watchdogPing); return ok }
	for range 2 {
		if d := m.fire("watchdog ping", isPing); d != 2*time.Second {
			t.Fatalf("ping after %v, want half the interval, 2s", d)
		}
		if err := o.until(func(msg string) bool { return msg == "WATCHDOG=1" }); err != nil {
			t.Fatalf("no WATCHDOG=1 to the service manager: %v", err)
		}
	}

	quiet := newMachine(t, Config{OuterNotify: o.path})
	quiet.s.armOuterWatchdog()
	for _, tm := range quiet.fx.timers {
		if isPing(tm.ev) {
			t.Fatal("a ping was scheduled with no watchdog asked for")
		}
	}
}

// TestMachineWatchdogAfterReexec: a zedr-run that took over from another
// by reexec arms the watchdog of every serving worker, with a full
// interval.
func TestMachineWatchdogAfterReexec(t *testing.T) {
	cfg := Config{Command: []string{"server"}, Ready: Readiness{Kind: ReadyNotify}, Watchdog: 3 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
	cfg.setDefaults()
	s := newSupervisor(New(cfg), cfg)
	fx := newFakeEffects()
	s.fx = fx
	s.restore(&reexec.Handoff{NextGen: 2, Slots: []reexec.HandoffSlot{{Gen: 1, PID: 1001}},
		Gens: []reexec.HandoffGen{{N: 1, State: reexec.StateReady, Slots: []int{0}, Next: 1,
			Workers: []reexec.HandoffWorker{{Slot: 0, PID: 1001, MainPID: 1001, State: reexec.StateReady}}}}})
	w := s.slots[0]
	if w == nil {
		t.Fatal("the serving worker was not restored")
	}
	m := &machine{t: t, s: s, fx: fx}
	if d := m.timer(w, timerWatchdog).d; d != 3*time.Second {
		t.Fatalf("restored worker's watchdog armed for %v, want 3s", d)
	}
}

// TestMachineWatchdogMinReady: with --min-ready the hung worker is
// signalled only once its replacement has stayed up that long.
func TestMachineWatchdogMinReady(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Second, MinReady: 2 * time.Second})
	m.serveMinReady(1)
	old := m.started(1)[0]
	m.notify(old, "WATCHDOG", "trigger")
	m.serve(2)
	if sigs := m.signals(old); len(sigs) != 0 {
		t.Fatalf("the hung worker got %v within its replacement's --min-ready", sigs)
	}
	m.fire("min-ready", isMinReady)
	if sigs := m.signals(old); !slices.Equal(sigs, abrt) {
		t.Fatalf("the hung worker got %v, want SIGABRT", sigs)
	}
}

// TestMachineWatchdogWaitsForRestart: a worker that hangs while another
// slot's replacement is starting is replaced, in its slot alone, once that
// one is done; with a failed replacement, only the watchdog's next interval
// tries again.
func TestMachineWatchdogWaitsForRestart(t *testing.T) {
	m := newMachine(t, Config{Watchdog: time.Second, Workers: 3})
	m.serve(1)
	olds := m.started(1)
	m.notify(olds[0], "WATCHDOG", "trigger")
	m.notify(olds[2], "WATCHDOG", "trigger")
	if n := len(m.fx.procs); n != 4 {
		t.Fatalf("%d processes, want 4: one replacement at a time", n)
	}
	m.serve(2)
	news := m.started(3)
	if len(news) != 1 || m.fx.procs[news[0]].w.slot != 2 {
		t.Fatalf("generation 3 has %d workers, want one for slot 2", len(news))
	}
	m.s.handle(execEvent{w: m.fx.procs[news[0]].w})
	m.exit(news[0], 1)
	if len(m.fx.procs) != 5 || m.s.pending != nil {
		t.Fatal("a failed replacement was retried at once")
	}
	if !slices.Equal(m.servingGens(), []int{2, 1, 1}) {
		t.Fatalf("serving %v, want the hung worker of slot 2 serving on", m.servingGens())
	}
	for _, tm := range m.fx.timers {
		if te, ok := tm.ev.(timerEvent); ok && !tm.stopped && te.kind == timerWatchdog && te.w.pid == olds[2] {
			m.fx.clock = m.fx.clock.Add(time.Second)
			tm.stopped = true
			m.s.handle(te)
		}
	}
	if len(m.started(4)) != 1 {
		t.Fatal("the watchdog's next interval did not try the replacement again")
	}
	m.serve(4)
	if !slices.Equal(m.servingGens(), []int{2, 1, 4}) {
		t.Fatalf("serving %v, want generation 4 in slot 2", m.servingGens())
	}
	for i, want := range [][]syscall.Signal{abrt, nil, abrt} {
		if sigs := m.signals(olds[i]); !slices.Equal(sigs, want) {
			t.Errorf("old worker %d got %v, want %v", i, sigs, want)
		}
	}
}
