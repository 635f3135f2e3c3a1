package wrapper

import (
	"fmt"
	"time"
)

// Restart policies for --rollout.
const (
	// RolloutRolling replaces one worker at a time: start the new worker of
	// a slot, wait until it is ready, stop the old one of that slot.
	RolloutRolling = "rolling"
	// RolloutAll starts every new worker, waits until all are ready, then
	// stops every old one.
	RolloutAll = "all"
)

// DefaultRollout is rolling: capacity never drops below --workers, at most
// one process more than that runs at any time (all needs twice the memory
// during a restart), and a bad binary is caught by its first worker.
const DefaultRollout = RolloutRolling

// DefaultSurge is how many new workers a rolling restart starts at once
// (Kubernetes' maxSurge): 1, the least memory during a restart (N+1
// processes) and a bad binary caught by one worker. A larger surge trades
// memory for time: a rollout of N workers takes about ceil(N/surge) times
// the server's start-up.
const DefaultSurge = 1

// startSlots starts generation nextGen for the given worker slots as the
// pending one: Surge workers at a time when it replaces serving workers in
// a rolling restart, every worker at once otherwise (the first start, the
// replacement of crashed workers, --rollout all).
func (s *supervisor) startSlots(why string, waiters []chan<- error, slots []int) error {
	n := s.nextGen
	s.nextGen++
	g := &generation{n: n, why: why, state: starting, started: time.Now(), slots: slots, waiters: waiters}
	g.phases.trigger = s.takeTrigger()
	g.rolling = s.cfg.Rollout == RolloutRolling && s.cfg.Surge < s.cfg.Workers && s.anyServing(slots)
	first := len(slots)
	if g.rolling {
		first = min(s.cfg.Surge, len(slots))
	}
	for g.next < first {
		i := slots[g.next]
		g.next++
		if err := s.startWorker(g, i); err != nil {
			if len(g.workers) > 0 {
				s.gens = append(s.gens, g) // to be reaped
			}
			s.startFailed(g, err)
			return err
		}
	}
	s.gens = append(s.gens, g)
	s.pending = g
	s.hist.restartBegan(g)
	attrs := []any{"gen", n, "pid", g.pid(), "why", why, "ready", s.cfg.Ready.String()}
	if s.cfg.Workers > 1 {
		attrs = append(attrs, "workers", slots, "rollout", map[bool]string{true: RolloutRolling, false: RolloutAll}[g.rolling])
		if g.rolling {
			attrs = append(attrs, "surge", first)
		}
	}
	s.log.Info("generation started", attrs...)
	s.tellStarted(n, why)
	return nil
}

// startWorker starts the worker of generation g for slot i, starting; the
// shim's report (exec'd or not) comes later as an execEvent, and the ready
// timeout runs from now. An error means no process was started.
func (s *supervisor) startWorker(g *generation, i int) error {
	w := &worker{g: g, slot: i, state: starting, execPending: true}
	began := s.fx.now()
	pid, err := s.fx.start(w)
	if err != nil {
		return err
	}
	s.forked(g, began)
	w.pid, w.mainPID, w.started = pid, pid, time.Now()
	g.workers = append(g.workers, w)
	if g.firstPID == 0 {
		g.firstPID = pid
	}
	if s.cfg.Workers > 1 {
		s.log.Info("worker started", "gen", g.n, "worker", i, "pid", pid)
	}
	w.readyTimer = s.after(s.cfg.ReadyTimeout, timerEvent{w, timerReadyTimeout})
	return nil
}

// startFailed gives up generation g, which could not be started: the
// workers it has are killed, the waiters told. When it is generation 1,
// zedr-run gives up: Run returns err once they are reaped.
func (s *supervisor) startFailed(g *generation, err error) {
	if g == s.pending {
		s.pending = nil
	}
	s.abandon(g)
	s.log.Error("generation failed to start", "gen", g.n, "pid", g.pid(), "why", g.why, "err", err)
	s.hist.startFailed(g.n, g.why, err)
	s.reloadFailed(s.servingAnd(fmt.Sprintf("generation %d failed to start: %v", g.n, err)), errnoOf(err))
	g.answer(err)
	if g.n == 1 {
		s.startErr = err
		s.stopping = true
		for _, w := range s.queuedWaiters {
			w <- err
		}
		s.queuedWaiters, s.queued = nil, false
		return
	}
	s.afterFailure()
}

// startNext starts the next worker of a rolling generation, in the place of
// one that became ready: at most Surge of its workers are starting at any
// time. One that cannot start stops the rollout.
func (s *supervisor) startNext(g *generation) {
	if g.next >= len(g.slots) {
		return
	}
	i := g.slots[g.next]
	g.next++
	if err := s.startWorker(g, i); err != nil {
		s.log.Error("worker failed to start", "gen", g.n, "worker", i, "err", err)
		s.rollbackWith(g, fmt.Sprintf("worker %d did not start: %v", i, err), errnoOf(err))
	}
}

// abandon kills every worker of g that did not start serving.
func (s *supervisor) abandon(g *generation) {
	for _, w := range g.workers {
		s.abort(w)
	}
	g.drain()
}

// rolloutDone reports whether every worker of g has started and none is
// still starting.
func (s *supervisor) rolloutDone(g *generation) bool {
	if g.next < len(g.slots) {
		return false
	}
	for _, w := range g.workers {
		if w.state == starting {
			return false
		}
	}
	return true
}

// install makes a ready worker the one serving its slot and stops the one
// it replaces.
func (s *supervisor) install(w *worker) {
	if w.state != ready || s.slots[w.slot] == w {
		return
	}
	old := s.slots[w.slot]
	s.slots[w.slot] = w
	if old != nil {
		s.replacing(old, w.g)
		s.stopWorker(old, fmt.Sprintf("replaced by generation %d", w.g.n))
	}
}

// settle updates the state of a generation that is not pending from its
// workers': ready while one of them serves, draining after.
func (s *supervisor) settle(g *generation) {
	if g != s.pending {
		g.settle()
	}
}

// serving lists the workers serving, in slot order.
func (s *supervisor) serving() []*worker {
	var ws []*worker
	for _, w := range s.slots {
		if w != nil {
			ws = append(ws, w)
		}
	}
	return ws
}

// emptySlots lists the slots with no worker serving.
func (s *supervisor) emptySlots() []int {
	var empty []int
	for i, w := range s.slots {
		if w == nil {
			empty = append(empty, i)
		}
	}
	return empty
}

func (s *supervisor) anyServing(slots []int) bool {
	for _, i := range slots {
		if s.slots[i] != nil {
			return true
		}
	}
	return false
}

// slotGens lists, for the logs, the generation serving each slot (0: none).
func (s *supervisor) slotGens() []int {
	gens := make([]int, len(s.slots))
	for i, w := range s.slots {
		if w != nil {
			gens[i] = w.g.n
		}
	}
	return gens
}

// attrs names a worker in a log line: gen=N [worker=I] pid=P. With one
// worker the worker index is left out, as before workers existed.
func (s *supervisor) attrs(w *worker) []any {
	if s.cfg.Workers > 1 {
		return []any{"gen", w.g.n, "worker", w.slot, "pid", w.mainPID}
	}
	return []any{"gen", w.g.n, "pid", w.mainPID}
}

// who prefixes a rollback reason with the worker, when there are several.
func (s *supervisor) who(w *worker) string {
	if s.cfg.Workers > 1 {
		return fmt.Sprintf("worker %d ", w.slot)
	}
	return ""
}

func pids(ws []*worker) []int {
	var p []int
	for _, w := range ws {
		p = append(p, w.mainPID)
	}
	return p
}
