package wrapper

import (
	"log/slog"
	"os"
	"syscall"
	"time"

	"zedr-run/reexec"
	"zedr-run/socketact"
)

// Defaults; a zero value in Config means these.
const (
	// DefaultReadyTimeout bounds how long a new generation may take to become
	// ready. Generous, as most servers start in seconds; a slow one can be
	// given more with --ready-timeout.
	DefaultReadyTimeout = 60 * time.Second

	// DefaultStopTimeout is how long an old generation may drain after the
	// stop signal before its process group is killed: long enough for
	// ordinary requests to finish, and the same as docker stop's grace period.
	DefaultStopTimeout = 10 * time.Second

	// DefaultStopSignal asks a server to shut down gracefully.
	DefaultStopSignal = syscall.SIGTERM

	// DefaultBackoffMin and DefaultBackoffMax bound the delay before a
	// crashed child is started again; the delay doubles with each crash in
	// a row and starts over once a generation stays ready for
	// DefaultBackoffReset.
	DefaultBackoffMin   = 100 * time.Millisecond
	DefaultBackoffMax   = 10 * time.Second
	DefaultBackoffReset = 10 * time.Second

	// MaxWorkers bounds Workers (--workers). 1024 is more than one worker
	// per CPU thread on the largest common machines, which is what prefork
	// servers run; beyond it, a slip such as --workers 10000 would fork that
	// many processes at once (twice as many during a --rollout all restart)
	// and exhaust the machine's pids and memory before anyone notices.
	MaxWorkers = 1024

	// DefaultProbeInterval is the pause between two runs of an exec: readiness
	// probe that has not yet succeeded.
	DefaultProbeInterval = 250 * time.Millisecond
)

// Config is everything Run needs. The sockets are opened by the caller.
type Config struct {
	// Command is the program and its arguments. Command[0] is looked up in
	// PATH again at every start, so a replaced binary is the one started.
	Command []string
	// Dir is the children's working directory; "" means zedr-run's.
	Dir string
	// Env is the children's base environment (zedr-run's own, with any
	// LISTEN_* and NOTIFY_SOCKET meant for zedr-run removed).
	Env []string

	Sockets []*socketact.Socket
	// KeepSocketFiles says the unix socket files zedr-run created outlive
	// it (--fdstore); otherwise the guardian removes them if zedr-run dies.
	KeepSocketFiles bool
	// InterceptBind is transparent mode: the sockets reach the children
	// only through their own bind(), intercepted by seccomp (no LISTEN_*).
	InterceptBind bool
	Compat        []string // socketact compat variable sets: einhorn, server-starter, nginx
	// InterceptAdopt (with InterceptBind) adopts what the children bind
	// themselves besides Sockets (package intercept, New's adopt).
	InterceptAdopt bool

	Ready        Readiness
	ReadyTimeout time.Duration
	// MinReady is how long a new generation must stay up after its
	// readiness signal before it counts as ready (and the old one is told
	// to stop); 0 means the readiness kind's default (DefaultMinReady),
	// NoMinReady none.
	MinReady    time.Duration
	StopSignal  syscall.Signal
	StopTimeout time.Duration
	// Watchdog, if not 0, is the children's watchdog interval (WATCHDOG_USEC,
	// systemd's WatchdogSec=): a serving worker that sends no WATCHDOG=1
	// within it is hung and replaced (see watchdog_linux.go). 0: none.
	Watchdog time.Duration
	// WatchdogSignal is what a hung worker gets once its replacement
	// serves; 0 means DefaultWatchdogSignal.
	WatchdogSignal syscall.Signal
	// StopDelay is how long zedr-run goes on serving after SIGTERM or
	// SIGINT, already saying it is stopping, before it stops the
	// generations (see stopdelay_linux.go); 0 means at once.
	StopDelay time.Duration

	// RestartSignals start a restart; others that arrive on Signals are
	// forwarded to the current child, but SIGTERM and SIGINT stop everything.
	RestartSignals []os.Signal
	// SignalMap says what other signals do instead of being forwarded as
	// they are (see signalmap_linux.go); never SIGTERM, SIGINT or a restart
	// signal, which keep their meaning.
	SignalMap map[os.Signal]SignalAction
	// Signals delivers the signals zedr-run receives (main wires it to
	// signal.Notify; tests inject their own).
	Signals <-chan os.Signal

	// StartLimitBurst crash restarts are allowed within StartLimitInterval;
	// one more, or a first generation not ready within the interval, stops
	// zedr-run (see startlimit_linux.go). 0 means the defaults, NoStartLimit
	// no limit.
	StartLimitBurst    int
	StartLimitInterval time.Duration

	// Check, if not "", is a shell command run before every requested
	// restart (signal, watcher, control); the restart happens only if it
	// exits 0. Crash restarts and the first start do not run it.
	Check string

	Logger *slog.Logger
	// FlushLog, if not nil, writes out the log lines Logger still queues,
	// waiting a bounded time; zedr-run calls it before it execs itself.
	FlushLog func()
	// LogDropped, if not nil, counts the log lines Logger dropped because
	// its output was not read fast enough, for Status.
	LogDropped func() uint64
	// OnReady, if not nil, is called by the loop each time a generation
	// becomes ready, with how long it took from its start: the metrics'
	// time-to-ready histogram. It runs on the loop, so it must not block
	// (httpprobe's histogram, atomic adds, does not).
	OnReady func(after time.Duration)

	// OuterWatchdog is the watchdog interval zedr-run's own service manager
	// asks for (WATCHDOG_USEC, systemd's WatchdogSec=), or 0: the loop then
	// sends it WATCHDOG=1 every half of it (outerwatchdog_linux.go).
	OuterWatchdog time.Duration
	// OuterNotify is the NOTIFY_SOCKET zedr-run itself was given by its
	// service manager, or "". The children never see it.
	OuterNotify string
	// ForwardStore pushes what the children store on to OuterNotify's fd
	// store too, and ManagerStored is what that store handed back to this
	// zedr-run at its start (see managerstore_linux.go).
	ForwardStore  bool
	ManagerStored []socketact.ManagerStored
	// Workers is how many children of each generation share the sockets,
	// each with ZEDR_WORKER=<0..Workers-1>; 0 means 1, at most MaxWorkers.
	Workers int
	// Rollout says how a restart replaces the workers: RolloutRolling or
	// RolloutAll; "" means DefaultRollout.
	Rollout string
	// Surge is how many new workers a rolling restart starts at once, each
	// ready one replacing the old worker of its slot (Kubernetes' maxSurge);
	// 0 means DefaultSurge. Surge >= Workers is RolloutAll.
	Surge int

	// Credential, if not nil, is the user and groups the children (and
	// exec: probes) run as; UserEnv sets their HOME, USER and LOGNAME.
	// zedr-run itself keeps its privileges, to hold the sockets.
	Credential *syscall.Credential
	UserEnv    []string
	// SpareShim keeps a shim forked ahead of time for the next start of a
	// worker (spare_linux.go), which spares a restart the shim's start-up.
	SpareShim bool
	// ControlPath is where the control socket is created (see
	// control.PathFor); "" means no control socket.
	ControlPath string
	// Version is zedr-run's, for Status.
	Version string

	// SelfPath is zedr-run's own binary on disk, which `zedr-run reexec`
	// execs; Handoff, when not nil, is the state a previous zedr-run handed
	// this one by that exec (see reexec.ParseHandoff): Run carries on with it
	// instead of starting the first generation.
	SelfPath string
	Handoff  *reexec.Handoff

	// Containment is ContainAuto, ContainCgroup or ContainScan: how the
	// processes that leave a worker's process group are found (see
	// contain_linux.go). main takes it from ZEDR_CONTAINMENT.
	Containment string

	// NotifyDir is where the children's NOTIFY_SOCKET is created; "" means
	// os.TempDir().
	NotifyDir string

	// FDStoreMax is how many descriptors the children's fd store keeps
	// (FDSTORE=1, see fdstore_linux.go). Unlike the other fields, 0 is not
	// the default but turns the store off, as systemd's
	// FileDescriptorStoreMax=0: main passes DefaultFDStoreMax unless told.
	FDStoreMax int
}

func (c *Config) setDefaults() {
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.StopSignal == 0 {
		c.StopSignal = DefaultStopSignal
	}
	if c.Ready.Kind == "" {
		c.Ready = DefaultReadiness
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.Rollout == "" {
		c.Rollout = DefaultRollout
	}
	if c.Surge <= 0 {
		c.Surge = DefaultSurge
	}
	if c.StartLimitBurst == 0 {
		c.StartLimitBurst, c.StartLimitInterval = DefaultStartLimitBurst, DefaultStartLimitInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Request asks for a restart. Source says who asked ("signal SIGUSR2",
// "watcher: /srv/app changed", "control"). If Done is not nil, it receives
// the outcome once: nil when the new generation took over, or why not.
type Request struct {
	Source string
	Done   chan<- error
}
