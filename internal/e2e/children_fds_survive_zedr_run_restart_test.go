package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"zedr-run/wrapper/control"
)

// Guarantee: Children's fds survive a restart of zedr-run itself (--fdstore).

// managerStoreScript is a child in Python that speaks the plain protocol
// with socket.send_fds: the first generation that finds no "state" stores a
// memfd counter, an "extra" memfd and a "keep" memfd with FDPOLL=0; the
// next removes "extra". Each bumps the counter and prints what it got.
const managerStoreScript = pyStorePrelude + `if "state" not in names:
    send("FDSTORE=1\nFDNAME=state", [fd])
    send("FDSTORE=1\nFDNAME=extra", [os.memfd_create("extra")])
    send("FDSTORE=1\nFDNAME=keep\nFDPOLL=0", [os.memfd_create("keep")])
elif "extra" in names:
    send("FDSTOREREMOVE=1\nFDNAME=extra")
send("READY=1")
while True:
    signal.pause()
`

// fakeStore is systemd's fd store as the messages on its NOTIFY_SOCKET
// build it: FDSTORE=1 keeps the fds under FDNAME= in order, FDSTOREREMOVE=1
// drops every fd of that name.
type fakeStore struct {
	names []string
	files []*os.File
	polls []bool
}

func (s *fakeStore) apply(t *testing.T, m managerMessage) {
	t.Helper()
	name := m.fields["FDNAME"]
	if m.fields["FDSTOREREMOVE"] == "1" {
		for i := len(s.names) - 1; i >= 0; i-- {
			if s.names[i] == name {
				s.names = slices.Delete(s.names, i, i+1)
				s.files = slices.Delete(s.files, i, i+1)
				s.polls = slices.Delete(s.polls, i, i+1)
			}
		}
		return
	}
	if len(m.fds) == 0 {
		t.Errorf("FDSTORE=1 FDNAME=%s with no fd", name)
	}
	for _, f := range m.fds {
		s.names = append(s.names, name)
		s.files = append(s.files, f)
		s.polls = append(s.polls, m.fields["FDPOLL"] != "0")
	}
}

// TestChildStoreInManagerStore: with --fdstore, what a Python child stores
// (socket.send_fds on zedr-run's NOTIFY_SOCKET) is pushed on to the service
// manager's store, named zedr-store.NAME (zedr-store-nopoll.NAME with
// FDPOLL=0, which is passed on), and a removal is passed on too. zedr-run is
// then killed with SIGKILL; started again with what the manager kept, as
// systemd does, it gives the first generation of the new zedr-run the
// child's descriptors under their own names, after the --listen socket.
func TestChildStoreInManagerStore(t *testing.T) {
	python := needTool(t, "/usr/bin/python3")
	dir := t.TempDir()
	script := filepath.Join(dir, "store.py")
	writeFile(t, script, []byte("#!"+python+"\n"+managerStoreScript), 0o755)
	mgr := newManagerSocket(t)
	args := []string{"--fdstore", "--listen", "tcp:127.0.0.1:0,name=web", "--ready", "notify", "--no-watch", "--", script}
	cmd := execZedr(args...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+mgr.path)
	z := startCmd(t, cmd, true)

	store := &fakeStore{}
	for len(store.names) < 4 { // web, then the child's three
		store.apply(t, mgr.nextOf("FDSTORE", "FDSTOREREMOVE"))
	}
	want := []string{"web", "zedr-store.state", "zedr-store.extra", "zedr-store-nopoll.keep"}
	if !slices.Equal(store.names, want) || !slices.Equal(store.polls, []bool{true, true, true, false}) {
		t.Fatalf("the manager's store holds %v (poll %v), want %v with FDPOLL=0 on the last", store.names, store.polls, want)
	}
	z.waitLog(`py gen=1 state=1 fdnames=web$`)
	z.readyPID(1)

	z.signal(syscall.SIGUSR2)
	z.waitLog(`py gen=2 state=2 fdnames=web:state:extra:keep$`)
	for range 2 { // zedr-store.extra and zedr-store-nopoll.extra
		store.apply(t, mgr.nextOf("FDSTORE", "FDSTOREREMOVE"))
	}
	want = []string{"web", "zedr-store.state", "zedr-store-nopoll.keep"}
	if !slices.Equal(store.names, want) {
		t.Fatalf("after FDSTOREREMOVE the manager's store holds %v, want %v", store.names, want)
	}
	z.readyPID(2)

	// zedr-run crashes, its children with it; the manager starts it again
	// with its store in LISTEN_FDS.
	z.signal(syscall.SIGKILL)
	z.wait()
	ctl := filepath.Join(dir, "control.sock")
	again := exec.Command("sh", append([]string{"-c", `LISTEN_PID=$$ exec "$@"`, "sh", bin("zedr-run"), "--control", ctl}, args...)...)
	again.Env = append(os.Environ(), "NOTIFY_SOCKET="+mgr.path,
		"LISTEN_FDS="+strconv.Itoa(len(store.files)), "LISTEN_FDNAMES="+strings.Join(store.names, ":"))
	again.ExtraFiles = store.files
	z2 := startCmd(t, again, true)
	z2.waitLog(`msg="fd store: restored from the service manager's store" name=state kind=memfd poll=true`)
	z2.waitLog(`msg="fd store: restored from the service manager's store" name=keep kind=memfd poll=false`)
	z2.waitLog(`py gen=1 state=3 fdnames=web:state:keep$`)
	z2.readyPID(1)
	st := waitStatus(t, ctl, "the store taken back", func(st control.Status) bool { return len(st.FDStore) == 2 })
	var got []string
	for _, fd := range st.FDStore {
		got = append(got, fmt.Sprintf("%d:%s:%s:%d:%v", fd.FD, fd.Name, fd.Kind, fd.Gen, fd.Poll))
	}
	if want := []string{"4:state:memfd:0:true", "5:keep:memfd:0:false"}; !slices.Equal(got, want) {
		t.Errorf("status lists the store as %v, want %v", got, want)
	}
	t.Logf("counter 1 -> 3 across a restart and a SIGKILL of zedr-run; the manager's store: %v", store.names)
	z2.signal(syscall.SIGTERM)
	z2.wait()
}
