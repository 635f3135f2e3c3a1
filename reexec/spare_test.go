package reexec

import (
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOrderGolden: the order's encoding is fixed (zedr-run and a spare of
// an older binary after a reexec never talk, but a change of the format
// should be deliberate), and decodes to what was encoded.
func TestOrderGolden(t *testing.T) {
	o := Order{
		Path:       "/bin/server",
		Argv:       []string{"server", "-p", "8080"},
		Env:        []string{"LISTEN_FDS=2", "ZEDR_GENERATION=3"},
		Intercept:  Intercept{Bind: true, Unlink: true},
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534, 10}},
		Files:      2,
	}
	b, err := EncodeOrder(o)
	if err != nil {
		t.Fatal(err)
	}
	const golden = `{"path":"/bin/server","argv":["server","-p","8080"],"env":["LISTEN_FDS=2","ZEDR_GENERATION=3"],"intercept":{"Bind":true,"Unlink":true},"credential":{"Uid":65534,"Gid":65534,"Groups":[65534,10],"NoSetGroups":false},"files":2}`
	if string(b) != golden {
		t.Errorf("encoded\n%s\nwant\n%s", b, golden)
	}
	got, err := DecodeOrder(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("round trip: %+v, want %+v", got, o)
	}
	o.Credential = nil
	b, _ = EncodeOrder(o)
	if got, _ := DecodeOrder(b); got.Credential != nil {
		t.Errorf("no credential decodes as %+v", got.Credential)
	}
	for _, bad := range []string{``, `{}`, `{"path":"/x","argv":[]}`, `{"path":"/x","argv":["x"],"files":-1}`} {
		if _, err := DecodeOrder([]byte(bad)); err == nil {
			t.Errorf("DecodeOrder(%q) accepted", bad)
		}
	}
}

// TestSendReceiveOrder: an order with more descriptors than one message
// carries arrives whole, in order.
func TestSendReceiveOrder(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pair[0]); unix.Close(pair[1]) })
	const n = MaxFDsPerMessage + 7
	var files []int
	var inodes []uint64
	for range n {
		p := make([]int, 2)
		if err := unix.Pipe2(p, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[1])
		files = append(files, p[0])
		inodes = append(inodes, inode(t, p[0]))
	}
	t.Cleanup(func() {
		for _, fd := range files {
			unix.Close(fd)
		}
	})
	o := Order{Path: "/bin/true", Argv: []string{"true"}}
	done := make(chan error, 1)
	send := func(p, oob []byte) error { return unix.Sendmsg(pair[0], p, oob, nil, unix.MSG_NOSIGNAL) }
	go func() { done <- SendOrder(send, o, files) }()
	got, fds, err := receiveOrder(pair[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	if got.Files != n || len(fds) != n {
		t.Fatalf("order says %d files, received %d, want %d", got.Files, len(fds), n)
	}
	for i, fd := range fds {
		if ino := inode(t, fd); ino != inodes[i] {
			t.Fatalf("descriptor %d is inode %d, want %d", i, ino, inodes[i])
		}
	}

	// EOF before an order: the spare's cue to leave.
	unix.Close(pair[0])
	pair[0] = -1
	if _, _, err := receiveOrder(pair[1]); err != errNoOrder {
		t.Errorf("after EOF: %v, want errNoOrder", err)
	}
}

// TestPlaceFDsOverlap: descriptors that already sit inside the target range,
// in another order, and a status channel among them, end up in place.
func TestPlaceFDsOverlap(t *testing.T) {
	const base = 200 // far above what the test process holds
	// Five pipes' read ends, placed at base+3, base+0, base+5 (the status
	// channel's target), base+1 and base+9; the status channel at base+2.
	at := []int{base + 3, base, base + 5, base + 1, base + 9}
	var fds []int
	var inodes []uint64
	for _, target := range at {
		p := make([]int, 2)
		if err := unix.Pipe2(p, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[1])
		ino := inode(t, p[0])
		if err := unix.Dup3(p[0], target, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		unix.Close(p[0])
		fds = append(fds, target)
		inodes = append(inodes, ino)
	}
	sp := make([]int, 2)
	if err := unix.Pipe2(sp, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(sp[1])
	statusIno := inode(t, sp[0])
	if err := unix.Dup3(sp[0], base+2, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(sp[0])
	t.Cleanup(func() {
		for fd := base; fd < base+40; fd++ {
			unix.Close(fd)
		}
	})

	status, err := placeFDs(base, fds, base+2)
	if err != nil {
		t.Fatal(err)
	}
	if status != base+len(fds) {
		t.Errorf("status channel at %d, want %d", status, base+len(fds))
	}
	for i := range fds {
		if ino := inode(t, base+i); ino != inodes[i] {
			t.Errorf("fd %d is inode %d, want descriptor %d's %d", base+i, ino, i, inodes[i])
		}
		if fl, _ := unix.FcntlInt(uintptr(base+i), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC != 0 {
			t.Errorf("fd %d is close-on-exec: the command would not get it", base+i)
		}
	}
	if ino := inode(t, status); ino != statusIno {
		t.Errorf("status channel is inode %d, want %d", ino, statusIno)
	}
	if fl, _ := unix.FcntlInt(uintptr(status), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
		t.Error("status channel is not close-on-exec")
	}
	// Nothing else is left open above the status channel: the copies are closed.
	for fd := status + 1; fd < base+40; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			t.Errorf("fd %d left open", fd)
		}
	}
}

func inode(t *testing.T, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat %d: %v", fd, err)
	}
	return st.Ino
}
