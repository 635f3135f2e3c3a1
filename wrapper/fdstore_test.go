package wrapper

import (
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// memfd is a new memfd, as a child would store its state in.
func memfd(t *testing.T, name string) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), name)
	t.Cleanup(func() { f.Close() })
	return f
}

// socketpair returns both ends of a unix stream socketpair.
func socketpair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(p[0]), "a"), os.NewFile(uintptr(p[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func closed(f *os.File) bool { return f.Fd() == ^uintptr(0) }

// storeMsg plays a process sending fields with fds attached.
func (m *machine) storeMsg(pid int, fds []*os.File, fields ...string) {
	m.t.Helper()
	msg := notifyMessage{pid: pid, fields: map[string]string{}, fds: fds}
	for i := 0; i < len(fields); i += 2 {
		msg.fields[fields[i]] = fields[i+1]
	}
	m.s.handle(msg)
}

func (m *machine) storeNames() []string { return m.s.storedNames() }

// TestFDStore: stored fds are kept in the order stored, by name (default
// "stored"), with the generation that stored them; FDSTOREREMOVE drops a
// name; a bad name, a process of no generation and a message without
// FDSTORE=1 leave nothing open.
func TestFDStore(t *testing.T) {
	m := newMachine(t, Config{FDStoreMax: 10})
	m.serve(1)
	pid := m.started(1)[0]
	counter, conn, other := memfd(t, "counter"), memfd(t, "conn"), memfd(t, "x")
	m.storeMsg(pid, []*os.File{counter}, "FDSTORE", "1", "FDNAME", "counter")
	m.storeMsg(pid, []*os.File{conn}, "FDSTORE", "1")
	if got := m.storeNames(); !slices.Equal(got, []string{"counter", "stored"}) {
		t.Fatalf("store %v, want [counter stored]", got)
	}
	if v := m.s.storeView(); v[0].Kind != "memfd" || v[0].Gen != 1 || v[0].FD != 3 {
		t.Errorf("status of the first stored fd: %+v", v[0])
	}
	m.storeMsg(pid, nil, "FDSTOREREMOVE", "1", "FDNAME", "stored")
	if got := m.storeNames(); !slices.Equal(got, []string{"counter"}) || !closed(conn) {
		t.Errorf("after FDSTOREREMOVE: store %v, removed one closed %v", got, closed(conn))
	}
	// The same file again is not stored twice.
	dup, err := unix.Dup(int(counter.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	dupf := os.NewFile(uintptr(dup), "dup")
	m.storeMsg(pid, []*os.File{dupf}, "FDSTORE", "1", "FDNAME", "again")
	if got := m.storeNames(); !slices.Equal(got, []string{"counter"}) || !closed(dupf) {
		t.Errorf("a second copy: store %v, closed %v", got, closed(dupf))
	}
	for _, bad := range [][]string{
		{"FDSTORE", "1", "FDNAME", "a:b"}, // ':' separates LISTEN_FDNAMES
		{"FDNAME", "x"},                   // no FDSTORE=1
	} {
		f := memfd(t, "bad")
		m.storeMsg(pid, []*os.File{f}, bad...)
		if !closed(f) || len(m.storeNames()) != 1 {
			t.Errorf("%q: closed %v, store %v", bad, closed(f), m.storeNames())
		}
	}
	m.storeMsg(99999, []*os.File{other}, "FDSTORE", "1")
	if !closed(other) || len(m.storeNames()) != 1 {
		t.Errorf("from no generation: closed %v, store %v", closed(other), m.storeNames())
	}
	// A crash restart keeps the store.
	m.exit(pid, 1)
	if got := m.storeNames(); !slices.Equal(got, []string{"counter"}) || closed(counter) {
		t.Errorf("after a crash: store %v", got)
	}
}

// TestFDStoreLimit: beyond FDStoreMax the rest is refused and closed; 0
// and transparent mode refuse everything.
func TestFDStoreLimit(t *testing.T) {
	m := newMachine(t, Config{FDStoreMax: 2})
	m.serve(1)
	pid := m.started(1)[0]
	fs := []*os.File{memfd(t, "a"), memfd(t, "b"), memfd(t, "c")}
	m.storeMsg(pid, fs, "FDSTORE", "1", "FDNAME", "n")
	if got := m.storeNames(); len(got) != 2 || closed(fs[0]) || closed(fs[1]) || !closed(fs[2]) {
		t.Errorf("3 fds into a store of 2: store %v, closed %v %v %v", got, closed(fs[0]), closed(fs[1]), closed(fs[2]))
	}
	for _, cfg := range []Config{{FDStoreMax: 0}, {FDStoreMax: 5, InterceptBind: true}} {
		m := newMachine(t, cfg)
		m.serve(1)
		f := memfd(t, "x")
		m.storeMsg(m.started(1)[0], []*os.File{f}, "FDSTORE", "1")
		if len(m.storeNames()) != 0 || !closed(f) {
			t.Errorf("%+v: store %v, closed %v", cfg, m.storeNames(), closed(f))
		}
	}
}

// TestFDStoreHangup: a stored connection whose peer hangs up is dropped,
// through the poller's event; one stored with FDPOLL=0 stays.
func TestFDStoreHangup(t *testing.T) {
	m := newMachine(t, Config{FDStoreMax: 10})
	p, err := newFDPoller()
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan event, 4)
	go p.run(func(ev event) { events <- ev })
	defer p.close()
	m.s.fdpoll = p
	m.serve(1)
	pid := m.started(1)[0]
	polled, peer1 := socketpair(t)
	kept, peer2 := socketpair(t)
	m.storeMsg(pid, []*os.File{kept}, "FDSTORE", "1", "FDNAME", "kept", "FDPOLL", "0")
	m.storeMsg(pid, []*os.File{polled}, "FDSTORE", "1", "FDNAME", "polled")
	peer2.Close()
	peer1.Close()
	select {
	case ev := <-events:
		m.s.handle(ev)
	case <-time.After(10 * time.Second):
		t.Fatal("no hang-up reported in 10s")
	}
	if got := m.storeNames(); !slices.Equal(got, []string{"kept"}) || !closed(polled) {
		t.Errorf("after the hang-ups: store %v, polled one closed %v", got, closed(polled))
	}
	select {
	case ev := <-events:
		t.Errorf("a second event %#v: FDPOLL=0 was watched", ev)
	default:
	}
}

// TestPostAfterLoopClosesFDs: a notify message that reaches no loop (it
// has ended) leaves no descriptor open.
func TestPostAfterLoopClosesFDs(t *testing.T) {
	m := newMachine(t, Config{FDStoreMax: 1})
	close(m.s.done)
	f := memfd(t, "late")
	m.s.post(notifyMessage{pid: 1, fields: map[string]string{"FDSTORE": "1"}, fds: []*os.File{f}})
	if !closed(f) {
		t.Error("the fd of a message posted after the loop ended is still open")
	}
}

// TestFDStoreRemoveWithoutName: FDSTOREREMOVE=1 without FDNAME= removes
// nothing and says so, rather than calling the missing name a bad one; with
// FDSTORE=1 the descriptors are still stored under the default name.
func TestFDStoreRemoveWithoutName(t *testing.T) {
	m := newMachine(t, Config{FDStoreMax: 10})
	var logged strings.Builder
	m.s.log = slog.New(slog.NewTextHandler(&logged, nil))
	m.serve(1)
	pid := m.started(1)[0]
	kept := memfd(t, "kept")
	m.storeMsg(pid, []*os.File{kept}, "FDSTORE", "1")
	m.storeMsg(pid, nil, "FDSTOREREMOVE", "1")
	if got := m.storeNames(); !slices.Equal(got, []string{"stored"}) || closed(kept) {
		t.Errorf("after FDSTOREREMOVE=1 without FDNAME=: store %v, closed %v", got, closed(kept))
	}
	if !strings.Contains(logged.String(), "FDSTOREREMOVE=1 without FDNAME=") || strings.Contains(logged.String(), "bad FDNAME") {
		t.Errorf("FDSTOREREMOVE=1 without FDNAME= logged:\n%s", logged.String())
	}
	both := memfd(t, "both")
	m.storeMsg(pid, []*os.File{both}, "FDSTORE", "1", "FDSTOREREMOVE", "1")
	if got := m.storeNames(); !slices.Equal(got, []string{"stored", "stored"}) || closed(both) || closed(kept) {
		t.Errorf("FDSTORE=1 and FDSTOREREMOVE=1 without FDNAME=: store %v", got)
	}
}

// TestFDStoreIDsWrap: a child storing and removing in a loop wraps the
// poller's ids round: they stay positive (the poller's wakeID is -1, and a
// stored fd reported under it would end the poller) and never repeat one
// still stored.
func TestFDStoreIDsWrap(t *testing.T) {
	m := newMachine(t, Config{FDStoreMax: 10})
	m.serve(1)
	pid := m.started(1)[0]
	m.storeMsg(pid, []*os.File{memfd(t, "first")}, "FDSTORE", "1", "FDNAME", "first")
	m.s.nextStoreID = math.MaxInt32 - 1 // as after 2^31 stores
	m.storeMsg(pid, []*os.File{memfd(t, "second")}, "FDSTORE", "1", "FDNAME", "second")
	m.storeMsg(pid, []*os.File{memfd(t, "third")}, "FDSTORE", "1", "FDNAME", "third")
	var ids []int32
	for _, fd := range m.s.store {
		ids = append(ids, fd.id)
	}
	if want := []int32{1, math.MaxInt32, 2}; !slices.Equal(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
}
