package wrapper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sdnotify"
	"zedr-run/reexec"
	"zedr-run/wrapper/proc"
)

// `zedr-run reexec` replaces zedr-run's binary in place: the loop checks
// the new binary (reexec.SelfTestArgs), writes its whole state into a
// reexec.Handoff, clears close-on-exec on the descriptors the next one needs and
// execs the new binary from the spawner thread. The pid stays, so the
// children stay its children; exec from the spawner thread keeps their
// parent-death signal from firing, since that thread is their parent and
// survives the exec. The new zedr-run reads the handoff and carries on:
// same sockets, generations, pids, states and pending readiness. The
// handoff's data, encoding and versions are package reexec's (Handoff);
// this file fills it from the supervisor's state and reads it back.

// reexecRequest asks the loop to re-exec zedr-run. done hears nil just
// before the exec (the requester then has written its answer and closes
// written), or why not.
type reexecRequest struct {
	by      string
	done    chan<- error
	written <-chan struct{}
}

// selfTest is a running check of the new binary.
type selfTest struct {
	pid int
	req reexecRequest
}

// ErrReexecBusy answers a reexec while another is being checked.
var ErrReexecBusy = errors.New("a reexec is already under way")

func (s *supervisor) requestReexec(r reexecRequest) {
	switch {
	case s.stopping:
		r.done <- ErrStopping
		return
	case s.selfTest != nil || s.execPending != nil:
		r.done <- ErrReexecBusy
		return
	case s.cfg.InterceptBind:
		r.done <- errors.New("zedr-run reexec is not available in transparent mode: each generation's seccomp listener cannot be handed over yet")
		return
	case s.cfg.SelfPath == "":
		r.done <- errors.New("zedr-run does not know its own binary's path")
		return
	}
	s.log.Info("reexec requested: checking the new binary", "by", r.by, "path", s.cfg.SelfPath)
	pid, err := proc.Spawn(s.cfg.SelfPath, reexec.SelfTestArgs(), &syscall.ProcAttr{
		Files: []uintptr{0, 2, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		err = fmt.Errorf("reexec refused: the new binary %s does not start: %w", s.cfg.SelfPath, err)
		s.log.Error("reexec refused", "path", s.cfg.SelfPath, "err", err)
		r.done <- err
		return
	}
	s.selfTest = &selfTest{pid: pid, req: r}
}

// onSelfTestExit execs the new binary once its check passed.
func (s *supervisor) onSelfTestExit(status syscall.WaitStatus) {
	r := s.selfTest.req
	s.selfTest = nil
	if !status.Exited() || status.ExitStatus() != 0 {
		err := fmt.Errorf("reexec refused: the new binary %s failed its check (%s); zedr-run carries on as it is", s.cfg.SelfPath, proc.Describe(status))
		s.log.Error("reexec refused", "path", s.cfg.SelfPath, "status", proc.Describe(status))
		r.done <- err
		return
	}
	if s.stopping {
		r.done <- ErrStopping
		return
	}
	// The requester hears now that zedr-run re-executes, and writes its
	// answer; the exec waits for that (a bounded while), but not on the
	// loop: execNow comes back as an event, and the handoff is built then,
	// from the state as it is at the exec.
	s.execPending = &r
	r.done <- nil
	go func() {
		select {
		case <-r.written:
		case <-time.After(reexecAnswerWait):
		}
		s.post(execNow{})
	}()
}

// reexecAnswerWait bounds how long the exec waits for the requester to
// write its answer.
const reexecAnswerWait = 2 * time.Second

// execNow is the go-ahead for the exec, once the requester has answered.
type execNow struct{}

// onExecNow execs, unless zedr-run began to stop meanwhile.
func (s *supervisor) onExecNow() {
	r := s.execPending
	s.execPending = nil
	if r == nil {
		return
	}
	if s.stopping {
		s.log.Warn("reexec dropped: zedr-run is stopping", "by", r.by)
		return
	}
	s.execSelf(*r)
}

// execSelf hands everything over and execs the new binary. It returns only
// if the exec failed, having put everything back.
func (s *supervisor) execSelf(r reexecRequest) {
	h, err := s.handoff()
	var kv string
	if err == nil {
		kv, err = h.EnvEntry()
	}
	if err == nil {
		if err = setCloexec(h.FDs(), false); err != nil {
			setCloexec(h.FDs(), true)
		}
	}
	if err != nil {
		s.log.Error("reexec: hand over failed; zedr-run carries on as it is", "err", err)
		return
	}
	env := append(os.Environ(), kv)
	env = withoutListenEnv(env)
	// Whoever waits for a restart cannot be told after the exec.
	for _, g := range s.gens {
		g.answer(errors.New("zedr-run re-executed itself; ask again"))
	}
	for _, w := range s.queuedWaiters {
		w <- errors.New("zedr-run re-executed itself; ask again")
	}
	s.queuedWaiters = nil
	s.log.Info("re-executing", "path", s.cfg.SelfPath, "generations", len(s.gens), "by", r.by)
	if s.cfg.FlushLog != nil {
		s.cfg.FlushLog() // the queued lines would be lost with the exec
	}
	err = proc.ExecInPlace(s.cfg.SelfPath, os.Args, env)
	setCloexec(h.FDs(), true)
	s.log.Error("reexec: exec failed; zedr-run carries on as it is", "path", s.cfg.SelfPath, "err", err)
	// Readiness probes were stopped for the handoff: start them again.
	for _, g := range s.gens {
		for _, w := range g.workers {
			if w.state == starting && s.cfg.Ready.Kind == ReadyExec && w.probePID == 0 {
				s.probe(w)
			}
		}
	}
}

// handoff builds the state the next zedr-run needs; h.FDs() lists its
// descriptors. Running exec: probes are killed: the next one starts its own.
func (s *supervisor) handoff() (*reexec.Handoff, error) {
	s.settleExecs()
	h := &reexec.Handoff{Version: reexec.HandoffVersion, Started: s.hist.started, NextGen: s.nextGen, Queued: s.queued, Backoff: s.backoff, ControlFD: -1}
	for _, sock := range s.cfg.Sockets {
		h.Sockets = append(h.Sockets, reexec.HandoffSocket{FD: int(sock.File.Fd()), Spec: sock.Spec.String(), Inherited: sock.Inherited, Owned: sock.Owned()})
	}
	h.Notify = reexec.HandoffNotify{FD: s.notify.Fd(), Path: s.notify.Path(), Dir: s.notify.Dir()}
	h.GuardFD = s.guard.FD()
	if s.contain.tree != nil {
		h.Cgroup = s.contain.tree.Dir
	}
	if s.ctl != nil {
		var err error
		if h.ControlFD, err = s.ctl.FD(); err != nil {
			return nil, err
		}
		h.Control = s.ctl.Path()
	}
	if s.pending != nil {
		h.Pending = s.pending.n
	}
	if s.lastExit != nil {
		st := int(*s.lastExit)
		h.LastExit = &st
	}
	for _, w := range s.slots {
		ref := reexec.HandoffSlot{}
		if w != nil {
			ref = reexec.HandoffSlot{Gen: w.g.n, PID: w.pid}
		}
		h.Slots = append(h.Slots, ref)
	}
	h.Gens = s.handoffGens()
	for _, fd := range s.store {
		h.FDStore = append(h.FDStore, reexec.HandoffStored{FD: int(fd.file.Fd()), Name: fd.name, Kind: fd.kind, Gen: fd.gen, Poll: fd.poll})
	}
	hist, err := s.hist.handoff()
	if err != nil {
		return nil, err
	}
	h.Hist = hist
	return h, nil
}

// handoffGens spells the generations and their workers for the handoff.
func (s *supervisor) handoffGens() []reexec.HandoffGen {
	var gens []reexec.HandoffGen
	for _, g := range s.gens {
		hg := reexec.HandoffGen{N: g.n, Why: g.why, FirstPID: g.firstPID, LastExit: g.lastExit, State: handoffStates[g.state], Started: g.started,
			ReadyAt: g.readyAt, Slots: g.slots, Next: g.next, Rolling: g.rolling}
		for _, w := range g.workers {
			s.killProbe(w)
			w.probePID = 0
			hw := reexec.HandoffWorker{Slot: w.slot, PID: w.pid, MainPID: w.mainPID, State: handoffStates[w.state],
				Started: w.started, ReadyAt: w.readyAt, MainExited: w.mainExited, Status: int(w.status), StopAt: w.stopAt}
			if w.minReadyTimer != nil {
				hw.ReadySignal, hw.ReadyHow = w.readySignal, w.readyHow
			}
			hg.Workers = append(hg.Workers, hw)
		}
		gens = append(gens, hg)
	}
	return gens
}

// restoreGens takes over the generations handed over, pending the one
// numbered pending, with their workers' timers re-armed; it returns the
// workers by pid.
func (s *supervisor) restoreGens(gens []reexec.HandoffGen, pending int) map[int]*worker {
	byPID := map[int]*worker{}
	for _, hg := range gens {
		g := &generation{n: hg.N, why: hg.Why, firstPID: hg.FirstPID, lastExit: hg.LastExit, state: fromHandoff[hg.State], started: hg.Started,
			readyAt: hg.ReadyAt, slots: hg.Slots, next: hg.Next, rolling: hg.Rolling}
		for _, hw := range hg.Workers {
			w := &worker{g: g, slot: hw.Slot, pid: hw.PID, mainPID: hw.MainPID, state: fromHandoff[hw.State], started: hw.Started,
				readyAt: hw.ReadyAt, mainExited: hw.MainExited, status: syscall.WaitStatus(hw.Status), stopAt: hw.StopAt,
				readySignal: hw.ReadySignal, readyHow: hw.ReadyHow}
			if w.mainPID != w.pid && !w.mainExited {
				s.setMain(w, w.mainPID)
			}
			g.workers = append(g.workers, w)
			byPID[w.pid] = w
			s.rearm(w)
		}
		s.gens = append(s.gens, g)
		if g.n == pending {
			s.pending = g
		}
	}
	return byPID
}

// handoff spells the history for the handoff: the status types' own JSON.
func (hist *history) handoff() (reexec.HandoffHist, error) {
	h := reexec.HandoffHist{Restarts: hist.restarts, Rollbacks: hist.rollbacks, Crashes: hist.crashes}
	var err error
	if h.Last, err = json.Marshal(hist.last); err != nil {
		return h, fmt.Errorf("last restart: %w", err)
	}
	if h.Exited, err = json.Marshal(hist.exited); err != nil {
		return h, fmt.Errorf("exited generations: %w", err)
	}
	return h, nil
}

// restore takes over the state a previous zedr-run handed over: the loop
// then carries on where it stopped, with timers re-armed for what is left.
func (s *supervisor) restore(h *reexec.Handoff) {
	s.nextGen, s.queued, s.backoff = h.NextGen, h.Queued, h.Backoff
	s.hist.started = h.Started
	s.restoreHist(h.Hist)
	if h.LastExit != nil {
		st := syscall.WaitStatus(*h.LastExit)
		s.lastExit = &st
	}
	byPID := s.restoreGens(h.Gens, h.Pending)
	for i, ref := range h.Slots {
		if w := byPID[ref.PID]; i < len(s.slots) && w != nil && w.g.n == ref.Gen {
			s.slots[i] = w
		}
	}
	s.armWatchdogs()
	s.restoreStore(h.FDStore)
	s.log.Info("re-executed: carrying on", "generations", len(s.gens), "next_gen", s.nextGen, "stored_fds", len(s.store))
	s.startSpareFor(leafKey{s.nextGen, 0})
	// The start limit counts afresh; a zedr-run that served before the
	// exec is past its first start.
	s.limit.began = s.fx.now()
	s.limit.served = len(s.serving()) > 0 || s.hist.restarts > 0 || s.hist.crashes > 0
	if !s.stopping && s.pending == nil && len(s.emptySlots()) > 0 {
		s.scheduleBackoff()
	}
}

// restoreHist takes over what `zedr-run status` shows of the past. It is
// only shown, never acted on: what does not read is left out, with a
// warning, rather than the sockets and the children given up for it.
func (s *supervisor) restoreHist(h reexec.HandoffHist) {
	s.hist.restarts, s.hist.rollbacks, s.hist.crashes = h.Restarts, h.Rollbacks, h.Crashes
	var errs []error
	if len(h.Last) > 0 {
		errs = append(errs, json.Unmarshal(h.Last, &s.hist.last))
	}
	if len(h.Exited) > 0 {
		errs = append(errs, json.Unmarshal(h.Exited, &s.hist.exited))
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("re-executed: the history handed over does not read; status shows less", "err", err)
	}
}

// handoffStates spells the supervisor's states in the handoff, and
// fromHandoff reads them back. reexec reads no state it does not know
// (reexec.HandoffState), and TestHandoffStates checks that these maps
// cover every one.
var (
	handoffStates = map[state]reexec.HandoffState{
		starting: reexec.StateStarting, ready: reexec.StateReady, draining: reexec.StateDraining, exited: reexec.StateExited,
	}
	fromHandoff = map[reexec.HandoffState]state{}
)

func init() {
	for st, hs := range handoffStates {
		fromHandoff[hs] = st
	}
}

// rearm sets a restored worker's timers again for the time left.
func (s *supervisor) rearm(w *worker) {
	if !w.stopAt.IsZero() {
		w.stopTimer = s.after(max(0, time.Until(w.stopAt)), timerEvent{w, timerStop})
	}
	if w.state != starting || s.rearmMinReady(w) {
		return
	}
	w.readyTimer = s.after(max(0, s.cfg.ReadyTimeout-time.Since(w.started)), timerEvent{w, timerReadyTimeout})
	switch s.cfg.Ready.Kind {
	case ReadyDelay:
		w.delayTimer = s.after(max(0, s.cfg.Ready.Delay-time.Since(w.started)), timerEvent{w, timerReadyDelay})
	case ReadyExec:
		s.probe(w)
	}
}

func setCloexec(fds []int, on bool) error {
	for _, fd := range fds {
		flag := 0
		if on {
			flag = unix.FD_CLOEXEC
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flag); err != nil {
			return fmt.Errorf("fd %d: %w", fd, err)
		}
	}
	return nil
}

// withoutListenEnv drops zedr-run's own activation variables: the sockets
// travel in the handoff, and fds 3.. may be something else by now.
func withoutListenEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		switch {
		case hasKey(kv, "LISTEN_FDS"), hasKey(kv, "LISTEN_PID"), hasKey(kv, "LISTEN_FDNAMES"):
			continue
		}
		out = append(out, kv)
	}
	return out
}

func hasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '='
}

// restoreNotify wraps the notify socket handed over.
func restoreNotify(h *reexec.Handoff, uids ...int) (*sdnotify.Socket, error) {
	n, err := sdnotify.Restore(h.Notify.FD, h.Notify.Path, h.Notify.Dir, uids...)
	if err != nil {
		return nil, fmt.Errorf("notify socket handed over: %w", err)
	}
	return n, nil
}
