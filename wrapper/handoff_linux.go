package wrapper

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
	"zedr-run/socketact"
)

// `zedr-run reexec` replaces zedr-run's binary in place: the loop checks
// the new binary (reexec.SelfTestName), writes its whole state into a
// Handoff, clears close-on-exec on the descriptors the next one needs and
// execs the new binary from the spawner thread. The pid stays, so the
// children stay its children; exec from the spawner thread keeps their
// parent-death signal from firing, since that thread is their parent and
// survives the exec. The new zedr-run reads the Handoff and carries on:
// same sockets, generations, pids, states and pending readiness.

// Handoff is the state one zedr-run hands the binary it execs in its place.
type Handoff struct {
	Version int       `json:"version"`
	Started time.Time `json:"started"`

	Sockets []HandoffSocket `json:"sockets"`
	Notify  struct {
		FD   int    `json:"fd"`
		Path string `json:"path"`
		Dir  string `json:"dir"`
	} `json:"notify"`
	GuardFD   int    `json:"guard_fd"`
	ControlFD int    `json:"control_fd"` // -1: none
	Control   string `json:"control"`

	NextGen  int              `json:"next_gen"`
	Pending  int              `json:"pending"` // generation number, 0 for none
	Queued   bool             `json:"queued"`
	Backoff  time.Duration    `json:"backoff"`
	LastExit *int             `json:"last_exit"` // raw wait status
	Gens     []handoffGen     `json:"gens"`
	Hist     handoffHist      `json:"hist"`
	Slots    []handoffSlotRef `json:"slots"`
	// Cgroup is the cgroup v2 subtree of the workers (see contain_linux.go),
	// or "" for none; older binaries hand none over.
	Cgroup string `json:"cgroup,omitempty"`
}

// HandoffSocket is one listening socket, at fd FD in the new process.
type HandoffSocket struct {
	FD        int    `json:"fd"`
	Spec      string `json:"spec"`
	Inherited bool   `json:"inherited"`
	Owned     bool   `json:"owned"` // zedr-run created its unix socket file
}

type handoffSlotRef struct {
	Gen int `json:"gen"`
	PID int `json:"pid"`
}

type handoffGen struct {
	N        int             `json:"n"`
	Why      string          `json:"why"`
	FirstPID int             `json:"first_pid"`
	LastExit string          `json:"last_exit"`
	State    state           `json:"state"`
	Started  time.Time       `json:"started"`
	ReadyAt  time.Time       `json:"ready_at"`
	Slots    []int           `json:"slots"`
	Next     int             `json:"next"`
	Rolling  bool            `json:"rolling"`
	Workers  []handoffWorker `json:"workers"`
}

type handoffWorker struct {
	Slot       int       `json:"slot"`
	PID        int       `json:"pid"`
	MainPID    int       `json:"main_pid"`
	State      state     `json:"state"`
	Started    time.Time `json:"started"`
	ReadyAt    time.Time `json:"ready_at"`
	MainExited bool      `json:"main_exited"`
	Status     int       `json:"status"`
	StopAt     time.Time `json:"stop_at"`
}

type handoffHist struct {
	Restarts  int                `json:"restarts"`
	Rollbacks int                `json:"rollbacks"`
	Crashes   int                `json:"crashes"`
	Last      *RestartResult     `json:"last"`
	Exited    []GenerationStatus `json:"exited"`
}

// ParseHandoff reads the handoff a previous zedr-run left in the
// environment, or returns nil, nil when this zedr-run was started normally.
// It unsets the variable, so that nothing started later sees it.
func ParseHandoff() (*Handoff, error) {
	v, ok := os.LookupEnv(reexec.HandoffEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(reexec.HandoffEnv)
	return decodeHandoff([]byte(v))
}

// decodeHandoff reads a handoff of any version this binary knows. Version
// 1 numbered the states; version 2 names them.
func decodeHandoff(b []byte) (*Handoff, error) {
	var h Handoff
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("read the state handed over by the previous zedr-run: %w", err)
	}
	if h.Version < 1 || h.Version > reexec.HandoffVersion {
		return nil, fmt.Errorf("the previous zedr-run handed over state version %d; this binary reads 1 to %d", h.Version, reexec.HandoffVersion)
	}
	return &h, nil
}

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
	case s.selfTest != nil:
		r.done <- ErrReexecBusy
		return
	case s.cfg.InterceptBind:
		r.done <- errors.New("zedr-run reexec is not available in transparent mode (--intercept-bind): each generation's seccomp listener cannot be handed over yet")
		return
	case s.cfg.SelfPath == "":
		r.done <- errors.New("zedr-run does not know its own binary's path")
		return
	}
	s.log.Info("reexec requested: checking the new binary", "by", r.by, "path", s.cfg.SelfPath)
	pid, err := spawn(s.cfg.SelfPath, []string{reexec.SelfTestName, strconv.Itoa(reexec.HandoffVersion)}, &syscall.ProcAttr{
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
		err := fmt.Errorf("reexec refused: the new binary %s failed its check (%s); zedr-run carries on as it is", s.cfg.SelfPath, describe(status))
		s.log.Error("reexec refused", "path", s.cfg.SelfPath, "status", describe(status))
		r.done <- err
		return
	}
	if s.stopping {
		r.done <- ErrStopping
		return
	}
	s.execSelf(r)
}

// execSelf hands everything over and execs the new binary. It returns only
// if the exec failed, having put everything back.
func (s *supervisor) execSelf(r reexecRequest) {
	h, fds, err := s.handoff()
	if err == nil {
		err = setCloexec(fds, false)
	}
	var b []byte
	if err == nil {
		b, err = json.Marshal(h)
	}
	if err != nil {
		setCloexec(fds, true)
		s.log.Error("reexec: hand over", "err", err)
		r.done <- fmt.Errorf("reexec: hand over: %w", err)
		return
	}
	env := append(os.Environ(), reexec.HandoffEnv+"="+string(b))
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
	r.done <- nil
	select {
	case <-r.written:
	case <-time.After(2 * time.Second):
	}
	if s.cfg.FlushLog != nil {
		s.cfg.FlushLog() // the queued lines would be lost with the exec
	}
	err = execFromSpawner(s.cfg.SelfPath, os.Args, env)
	setCloexec(fds, true)
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

// handoff builds the state and lists the descriptors the next zedr-run
// needs. Running exec: probes are killed: the next one starts its own.
func (s *supervisor) handoff() (*Handoff, []int, error) {
	s.settleExecs()
	h := &Handoff{Version: reexec.HandoffVersion, Started: s.hist.started, NextGen: s.nextGen, Queued: s.queued, Backoff: s.backoff, ControlFD: -1}
	var fds []int
	for _, sock := range s.cfg.Sockets {
		fd := int(sock.File.Fd())
		fds = append(fds, fd)
		h.Sockets = append(h.Sockets, HandoffSocket{FD: fd, Spec: sock.Spec.String(), Inherited: sock.Inherited, Owned: sock.Owned()})
	}
	fd, err := rawFD(s.notify.conn)
	if err != nil {
		return nil, nil, fmt.Errorf("notify socket: %w", err)
	}
	h.Notify.FD, h.Notify.Path, h.Notify.Dir = fd, s.notify.path, s.notify.dir
	fds = append(fds, fd)
	h.GuardFD = s.guard.FD()
	if s.contain.tree != nil {
		h.Cgroup = s.contain.tree.Dir
	}
	fds = append(fds, h.GuardFD)
	if s.ctl != nil {
		if h.ControlFD, err = rawFD(s.ctl.ln); err != nil {
			return nil, nil, fmt.Errorf("control socket: %w", err)
		}
		h.Control = s.ctl.path
		fds = append(fds, h.ControlFD)
	}
	if s.pending != nil {
		h.Pending = s.pending.n
	}
	if s.lastExit != nil {
		st := int(*s.lastExit)
		h.LastExit = &st
	}
	for _, w := range s.slots {
		ref := handoffSlotRef{}
		if w != nil {
			ref = handoffSlotRef{Gen: w.g.n, PID: w.pid}
		}
		h.Slots = append(h.Slots, ref)
	}
	for _, g := range s.gens {
		hg := handoffGen{N: g.n, Why: g.why, FirstPID: g.firstPID, LastExit: g.lastExit, State: g.state, Started: g.started,
			ReadyAt: g.readyAt, Slots: g.slots, Next: g.next, Rolling: g.rolling}
		for _, w := range g.workers {
			s.killProbe(w)
			w.probePID = 0
			hg.Workers = append(hg.Workers, handoffWorker{Slot: w.slot, PID: w.pid, MainPID: w.mainPID, State: w.state,
				Started: w.started, ReadyAt: w.readyAt, MainExited: w.mainExited, Status: int(w.status), StopAt: w.stopAt})
		}
		h.Gens = append(h.Gens, hg)
	}
	h.Hist = handoffHist{Restarts: s.hist.restarts, Rollbacks: s.hist.rollbacks, Crashes: s.hist.crashes, Last: s.hist.last, Exited: s.hist.exited}
	return h, fds, nil
}

// restore takes over the state a previous zedr-run handed over: the loop
// then carries on where it stopped, with timers re-armed for what is left.
func (s *supervisor) restore(h *Handoff) {
	s.nextGen, s.queued, s.backoff = h.NextGen, h.Queued, h.Backoff
	s.hist.started = h.Started
	s.hist.restarts, s.hist.rollbacks, s.hist.crashes = h.Hist.Restarts, h.Hist.Rollbacks, h.Hist.Crashes
	s.hist.last, s.hist.exited = h.Hist.Last, h.Hist.Exited
	if h.LastExit != nil {
		st := syscall.WaitStatus(*h.LastExit)
		s.lastExit = &st
	}
	byPID := map[int]*worker{}
	for _, hg := range h.Gens {
		g := &generation{n: hg.N, why: hg.Why, firstPID: hg.FirstPID, lastExit: hg.LastExit, state: hg.State, started: hg.Started,
			readyAt: hg.ReadyAt, slots: hg.Slots, next: hg.Next, rolling: hg.Rolling}
		for _, hw := range hg.Workers {
			w := &worker{g: g, slot: hw.Slot, pid: hw.PID, mainPID: hw.MainPID, state: hw.State, started: hw.Started,
				readyAt: hw.ReadyAt, mainExited: hw.MainExited, status: syscall.WaitStatus(hw.Status), stopAt: hw.StopAt}
			if w.mainPID != w.pid && !w.mainExited {
				s.setMain(w, w.mainPID)
			}
			g.workers = append(g.workers, w)
			byPID[w.pid] = w
			s.rearm(w)
		}
		s.gens = append(s.gens, g)
		if g.n == h.Pending {
			s.pending = g
		}
	}
	for i, ref := range h.Slots {
		if w := byPID[ref.PID]; i < len(s.slots) && w != nil && w.g.n == ref.Gen {
			s.slots[i] = w
		}
	}
	s.log.Info("re-executed: carrying on", "generations", len(s.gens), "next_gen", s.nextGen)
	if !s.stopping && s.pending == nil && len(s.emptySlots()) > 0 {
		s.scheduleBackoff()
	}
}

// rearm sets a restored worker's timers again for the time left.
func (s *supervisor) rearm(w *worker) {
	if !w.stopAt.IsZero() {
		w.stopTimer = s.after(max(0, time.Until(w.stopAt)), timerEvent{w, timerStop})
	}
	if w.state != starting {
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

// rawFD returns the descriptor behind a net connection or listener.
func rawFD(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
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
func restoreNotify(h *Handoff, uids ...int) (*notifySocket, error) {
	f := os.NewFile(uintptr(h.Notify.FD), "notify")
	c, err := net.FileConn(f)
	f.Close() // FileConn made its own copy
	if err != nil {
		return nil, fmt.Errorf("notify socket handed over: %w", err)
	}
	conn, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("notify socket handed over: not a unix socket")
	}
	n := &notifySocket{conn: conn, dir: h.Notify.Dir, path: h.Notify.Path, uids: map[uint32]bool{uint32(os.Getuid()): true, 0: true}}
	n.buffers()
	for _, uid := range uids {
		n.uids[uint32(uid)] = true
	}
	return n, nil
}

// restoreControl wraps the control socket handed over. Its file is removed
// on Close only if it is still the one the socket is bound to.
func restoreControl(h *Handoff) (*controlServer, error) {
	f := os.NewFile(uintptr(h.ControlFD), "control")
	sock, err := socketact.Adopt(socketact.Spec{Network: "unix", Address: h.Control}, f, false, true)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("control socket handed over: %w", err)
	}
	unix.CloseOnExec(h.ControlFD)
	ln, err := unixListener(sock)
	if err != nil {
		sock.File.Close()
		return nil, fmt.Errorf("control socket handed over: %w", err)
	}
	return &controlServer{ln: ln, path: h.Control, sock: sock}, nil
}
