package wrapper

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"zedr-run/internal/sdnotify"
	"zedr-run/wrapper/proc"
)

// TestIntakeOrder: a message sent on the notify socket before an exit is
// reaped reaches the loop before that exit, whichever goroutine reads it,
// and neither goroutine needs the loop to make progress beyond posting.
func TestIntakeOrder(t *testing.T) {
	n, err := sdnotify.Listen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var mu sync.Mutex
	var got []string
	in := &intake{notify: n, post: func(ev event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case notifyMessage:
			got = append(got, "msg "+ev.fields["N"])
		case exitEvent:
			got = append(got, "exit "+strconv.Itoa(ev.PID))
		}
	}}
	go in.serveNotify()

	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	const rounds = 500
	for i := range rounds {
		// Blocks while the socket's queue is full: the intake drains it.
		if err := unix.Sendto(fd, []byte("N="+strconv.Itoa(i)), 0, &unix.SockaddrUnix{Name: n.Path()}); err != nil {
			t.Fatal(err)
		}
		in.postExits([]proc.Exit{{PID: i}})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := len(got) == 2*rounds
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events, want %d", len(got), 2*rounds)
		}
		time.Sleep(time.Millisecond)
	}
	for i := range rounds {
		if want := fmt.Sprintf("msg %d", i); got[2*i] != want || got[2*i+1] != fmt.Sprintf("exit %d", i) {
			t.Fatalf("events %d and %d are %q, %q; want %q, then its exit", 2*i, 2*i+1, got[2*i], got[2*i+1], want)
		}
	}
}
