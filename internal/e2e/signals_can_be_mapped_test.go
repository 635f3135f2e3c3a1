package e2e

import (
	"path/filepath"
	"syscall"
	"testing"
)

// Guarantee: A signal can be mapped to another one, to a restart, or ignored (--map-signal).

// TestMapSignal: with USR1:QUIT the child gets SIGQUIT, with WINCH:ignore
// nothing, with HUP:restart zedr-run restarts with zero downtime (the old
// child gets its stop signal, never the HUP it has no handler for); an
// unmapped ALRM is still forwarded as it is.
func TestMapSignal(t *testing.T) {
	got := filepath.Join(t.TempDir(), "got")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms",
		"--map-signal", "USR1:QUIT", "--map-signal", "WINCH:ignore", "--map-signal", "HUP:restart", "--",
		"sh", "-c", `for s in QUIT USR1 WINCH ALRM; do trap "echo $s >> $0" $s; done; trap 'echo TERM$ZEDR_GENERATION >> "$0"; exit 0' TERM; while :; do sleep 100 & wait $!; done`, got)
	z.readyPID(1)
	z.signal(syscall.SIGUSR1)
	waitFile(t, got, "QUIT\n")
	z.signal(syscall.SIGWINCH)
	z.signal(syscall.SIGALRM)
	waitFile(t, got, "QUIT\nALRM\n")
	z.signal(syscall.SIGUSR1) // a forwarded WINCH would be in the file before this QUIT
	waitFile(t, got, "QUIT\nALRM\nQUIT\n")
	z.waitLog(`msg="signal ignored, as mapped" signal=SIGWINCH`)
	z.signal(syscall.SIGHUP)
	z.waitLog(`msg="restart requested" by="signal SIGHUP"`)
	z.readyPID(2)
	waitFile(t, got, "QUIT\nALRM\nQUIT\nTERM1\n")
	z.signal(syscall.SIGTERM)
	if code := z.wait(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}
