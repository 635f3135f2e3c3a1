package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 10 * time.Second

// fakeHandler records what the server asked of it and answers as told.
type fakeHandler struct {
	mu     sync.Mutex
	calls  []string // "status", "restart by wait", "stop by", "reexec by"
	status Status
	// errors to answer with
	statusErr, restartErr, stopErr, reexecErr error
	// reexec: answered is sent here once Reexec has returned
	answered chan (<-chan struct{})
}

func (f *fakeHandler) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeHandler) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeHandler) Status() (Status, error) {
	f.record("status")
	return f.status, f.statusErr
}

func (f *fakeHandler) Restart(by string, wait bool) error {
	f.record(fmt.Sprintf("restart %s %v", by, wait))
	return f.restartErr
}

func (f *fakeHandler) Stop(by string) error {
	f.record("stop " + by)
	return f.stopErr
}

func (f *fakeHandler) Reexec(by string, answered <-chan struct{}) (string, error) {
	f.record("reexec " + by)
	select {
	case <-answered:
		return "", errors.New("answered was closed before Reexec returned")
	default:
	}
	if f.answered != nil {
		f.answered <- answered
	}
	return "/usr/local/bin/zedr-run", f.reexecErr
}

// shortDir is a new directory with a path short enough for a unix socket.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serve starts a server for h at a new path and returns that path; the
// server is closed, and Serve seen to return, at cleanup.
func serve(t *testing.T, h Handler) (string, *Server) {
	t.Helper()
	path := filepath.Join(shortDir(t), "ctl.sock")
	srv, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(h, nil)
	}()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-served:
		case <-time.After(waitLimit):
			t.Errorf("Serve did not return within %v of Close", waitLimit)
		}
	})
	return path, srv
}

// me is how the server names this test process as a requester.
func me() string { return fmt.Sprintf("control (pid=%d uid=%d)", os.Getpid(), os.Getuid()) }

func do(t *testing.T, path string, req Request) Response {
	t.Helper()
	resp, err := Do(path, req)
	if err != nil {
		t.Fatalf("%s: %v", req.Cmd, err)
	}
	return resp
}

func TestStatus(t *testing.T) {
	h := &fakeHandler{status: Status{PID: 7, Version: "v1", Generations: []GenerationStatus{{Gen: 1, PID: 8, State: "ready", Current: true}}}}
	path, _ := serve(t, h)
	resp := do(t, path, Request{Cmd: CmdStatus})
	if !resp.OK || resp.Status == nil || resp.Status.PID != 7 || resp.Status.Generations[0].PID != 8 {
		t.Fatalf("status answer: %+v", resp)
	}
	if got := h.Calls(); len(got) != 1 || got[0] != "status" {
		t.Errorf("handler calls: %q", got)
	}
}

func TestStatusAfterStop(t *testing.T) {
	path, _ := serve(t, &fakeHandler{statusErr: ErrStopped})
	resp := do(t, path, Request{Cmd: CmdStatus})
	if resp.OK || resp.Error != "zedr-run stopped before it could answer" {
		t.Fatalf("answer: %+v", resp)
	}
}

func TestRestart(t *testing.T) {
	st := Status{Generations: []GenerationStatus{{Gen: 2, PID: 41}, {Gen: 3, PID: 42, Current: true}}}
	for _, tc := range []struct {
		name string
		req  Request
		h    *fakeHandler
		want Response
	}{
		{"no wait", Request{Cmd: CmdRestart}, &fakeHandler{status: st},
			Response{OK: true, Message: "restart requested"}},
		{"wait", Request{Cmd: CmdRestart, Wait: true}, &fakeHandler{status: st},
			Response{OK: true, Message: "generation 3 pid=42 took over", Status: &st}},
		{"wait, nothing current", Request{Cmd: CmdRestart, Wait: true}, &fakeHandler{},
			Response{OK: true, Message: "restart done", Status: &Status{}}},
		{"rolled back", Request{Cmd: CmdRestart, Wait: true}, &fakeHandler{restartErr: errors.New("generation 3 rolled back: exited before ready: exit status 3")},
			Response{Error: "generation 3 rolled back: exited before ready: exit status 3"}},
		{"stopped while waiting", Request{Cmd: CmdRestart, Wait: true}, &fakeHandler{restartErr: ErrStopped},
			Response{Error: "zedr-run stopped before it could answer"}},
		{"stopped before the status", Request{Cmd: CmdRestart, Wait: true}, &fakeHandler{statusErr: ErrStopped},
			Response{Error: "zedr-run stopped before it could answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := serve(t, tc.h)
			got := do(t, path, tc.req)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if string(gj) != string(wj) {
				t.Errorf("answer\n got %s\nwant %s", gj, wj)
			}
			if calls := tc.h.Calls(); len(calls) == 0 || calls[0] != fmt.Sprintf("restart %s %v", me(), tc.req.Wait) {
				t.Errorf("handler calls: %q", calls)
			}
		})
	}
}

func TestStop(t *testing.T) {
	h := &fakeHandler{}
	path, _ := serve(t, h)
	resp := do(t, path, Request{Cmd: CmdStop})
	if want := fmt.Sprintf("zedr-run pid=%d is stopping", os.Getpid()); !resp.OK || resp.Message != want {
		t.Fatalf("answer %+v, want message %q", resp, want)
	}
	if got := h.Calls(); len(got) != 1 || got[0] != "stop "+me() {
		t.Errorf("handler calls: %q", got)
	}
}

// The answer to a reexec is in the client's socket before answered is
// closed: the supervisor execs only then, so the client always hears it.
func TestReexecAnsweredBeforeExec(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Response
	}{
		{"ok", nil, Response{OK: true, Message: fmt.Sprintf("zedr-run pid=%d is re-executing /usr/local/bin/zedr-run", os.Getpid())}},
		{"refused", errors.New("a reexec is already under way"), Response{Error: "a reexec is already under way"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHandler{reexecErr: tc.err, answered: make(chan (<-chan struct{}), 1)}
			path, _ := serve(t, h)
			conn, err := net.DialTimeout("unix", path, waitLimit)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(waitLimit))
			if _, err := conn.Write([]byte(`{"cmd":"reexec"}` + "\n")); err != nil {
				t.Fatal(err)
			}
			var answered <-chan struct{}
			select {
			case answered = <-h.answered:
			case <-time.After(waitLimit):
				t.Fatalf("Reexec not called within %v", waitLimit)
			}
			select {
			case <-answered:
			case <-time.After(waitLimit):
				t.Fatalf("answered not closed within %v", waitLimit)
			}
			// Not read yet: the whole answer must already be waiting.
			if n := pending(t, conn.(*net.UnixConn)); n == 0 {
				t.Fatal("answered was closed before the answer was written")
			}
			line, err := bufio.NewReader(conn).ReadBytes('\n')
			if err != nil {
				t.Fatal(err)
			}
			var got Response
			if err := json.Unmarshal(line, &got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("answer %+v, want %+v", got, tc.want)
			}
			if calls := h.Calls(); len(calls) != 1 || calls[0] != "reexec "+me() {
				t.Errorf("handler calls: %q", calls)
			}
		})
	}
}

// pending is how many bytes wait to be read on conn (SIOCINQ).
func pending(t *testing.T, conn *net.UnixConn) int {
	t.Helper()
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	rc.Control(func(fd uintptr) { n, ioErr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	if ioErr != nil {
		t.Fatal(ioErr)
	}
	return n
}

func TestBadRequest(t *testing.T) {
	h := &fakeHandler{}
	path, _ := serve(t, h)
	got := rawRequest(t, path, "not json\n")
	if got.OK || !strings.HasPrefix(got.Error, `bad request "not json\n": `) {
		t.Errorf("answer: %+v", got)
	}
	if calls := h.Calls(); len(calls) != 0 {
		t.Errorf("the handler was called: %q", calls)
	}
}

func TestUnknownCommand(t *testing.T) {
	h := &fakeHandler{}
	path, _ := serve(t, h)
	got := do(t, path, Request{Cmd: "frobnicate"})
	if want := `unknown command "frobnicate": want status, restart, stop or reexec`; got.OK || got.Error != want {
		t.Errorf("answer %+v, want error %q", got, want)
	}
	if calls := h.Calls(); len(calls) != 0 {
		t.Errorf("the handler was called: %q", calls)
	}
}

// rawRequest writes line as it is and reads the answer.
func rawRequest(t *testing.T, path, line string) Response {
	t.Helper()
	conn, err := net.DialTimeout("unix", path, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitLimit))
	if _, err := conn.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	b, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var resp Response
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("bad answer %q: %v", b, err)
	}
	return resp
}
