package wrapper

import (
	"os"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Signal mapping through the state machine (fake effects, machine_test.go).

// TestSignalMap: each kind of map does what it says, and an unmapped
// signal is still forwarded as it is.
func TestSignalMap(t *testing.T) {
	cfg := Config{SignalMap: map[os.Signal]SignalAction{
		unix.SIGHUP:   {Kind: MapRestart},
		unix.SIGWINCH: {Kind: MapIgnore},
		unix.SIGUSR1:  {Kind: MapSignal, Signal: unix.SIGQUIT},
	}}
	m := newMachine(t, cfg)
	m.serve(1)
	pid := m.started(1)[0]

	m.s.onSignal(unix.SIGWINCH)
	if sigs := m.signals(pid); len(sigs) != 0 {
		t.Fatalf("WINCH:ignore: the child got %v", sigs)
	}
	m.s.onSignal(unix.SIGUSR1)
	if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{unix.SIGQUIT}) {
		t.Fatalf("USR1:QUIT: the child got %v, want SIGQUIT", sigs)
	}
	m.s.onSignal(unix.SIGALRM) // not mapped
	if sigs := m.signals(pid); !slices.Equal(sigs, []syscall.Signal{unix.SIGQUIT, unix.SIGALRM}) {
		t.Fatalf("unmapped ALRM: the child got %v, want SIGQUIT then SIGALRM", sigs)
	}
	m.s.onSignal(unix.SIGHUP)
	if len(m.started(2)) != 1 {
		t.Fatal("HUP:restart started no generation 2")
	}
	if sigs := m.signals(pid); len(sigs) != 2 {
		t.Fatalf("HUP:restart: the child got %v before its successor was ready", sigs)
	}
	m.serve(2)
	if !slices.Equal(m.servingGens(), []int{2}) {
		t.Fatalf("serving %v after HUP:restart, want generation 2", m.servingGens())
	}
}
