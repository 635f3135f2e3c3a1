package control

import (
	"encoding/json"
	"testing"
	"time"
)

// The wire format, byte for byte: clients and servers of other versions
// talk to each other across `zedr-run reexec` and upgrades.
func TestWireFormat(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		v    any
		want string
	}{
		{Request{Cmd: CmdStatus}, `{"cmd":"status"}`},
		{Request{Cmd: CmdRestart, Wait: true}, `{"cmd":"restart","wait":true}`},
		{Request{Cmd: CmdStop}, `{"cmd":"stop"}`},
		{Request{Cmd: CmdReexec}, `{"cmd":"reexec"}`},
		{Response{OK: true, Message: "restart requested"}, `{"ok":true,"message":"restart requested"}`},
		{Response{Error: "zedr-run stopped before it could answer"}, `{"ok":false,"error":"zedr-run stopped before it could answer"}`},
		{Response{OK: true, Status: &Status{
			PID: 1, Version: "v", Started: at, Command: []string{"srv"}, Sockets: []SocketStatus{{FD: 3, Name: "web", Spec: "tcp::80", Addr: "[::]:80"}},
			Generations: []GenerationStatus{{Gen: 2, PID: 9, State: "ready", Current: true, Why: "signal SIGUSR2", Started: at, ReadyAfter: time.Second,
				Workers: []WorkerStatus{{Worker: 0, PID: 9, State: "ready"}, {Worker: 1, PID: 10, State: "exited", Exit: "exit status 1"}}}},
			Restarts: 1, LastRestart: &RestartResult{Gen: 2, By: "signal SIGUSR2", Result: ResultOK, At: at}, RestartQueued: true,
		}}, `{"ok":true,"status":{"pid":1,"version":"v","started":"2025-01-02T03:04:05Z","command":["srv"],"stopping":false,` +
			`"sockets":[{"fd":3,"name":"web","spec":"tcp::80","addr":"[::]:80","inherited":false}],` +
			`"generations":[{"gen":2,"pid":9,"state":"ready","current":true,"why":"signal SIGUSR2","started":"2025-01-02T03:04:05Z","ready_after_ns":1000000000,` +
			`"workers":[{"worker":0,"pid":9,"state":"ready"},{"worker":1,"pid":10,"state":"exited","exit":"exit status 1"}]}],` +
			`"restarts":1,"rollbacks":0,"crashes":0,` +
			`"last_restart":{"gen":2,"by":"signal SIGUSR2","result":"ok","reason":"","at":"2025-01-02T03:04:05Z"},"restart_queued":true}}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%T\n got %s\nwant %s", tc.v, b, tc.want)
		}
	}
}
