package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"zedr-run/internal/loadgen"
)

// The tableflip contender: the server built with -tags tableflip upgrades
// itself on SIGHUP, each restart switches to a new process and the old one
// drains (or, with -plain-shutdown, shuts down) and exits; stop leaves none.
// With the drain, keep-alive clients that never retry lose no request: the
// stopping server answers each connection's next request with
// "Connection: close" instead of closing it under the client.
func TestTableflipContender(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "server-tableflip")
	if o, err := exec.Command("go", "build", "-tags", "tableflip", "-o", bin, "../../testdata/server").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags tableflip: %v\n%s", err, o)
	}
	for _, plain := range []bool{false, true} {
		// A file, as in the benchmark: the successors inherit it.
		log, err := os.CreateTemp(dir, "log")
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		logged := func() string { b, _ := os.ReadFile(log.Name()); return string(b) }
		e := &env{tableflipServer: bin, tmp: dir, plain: plain, log: log}
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		inst, err := startTableflip(e, addr, 0)
		if err != nil {
			t.Fatal(err)
		}
		pids := map[int]bool{}
		var r loadgen.Result
		func() {
			defer inst.stop()
			if _, err := waitServing(addr, 0, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			load, err := loadgen.Start(context.Background(), loadgen.Config{Addr: addr, Concurrency: 4, KeepAlive: true, NoRetry: true, Duration: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { r = load.Stop() }()
			for range 3 {
				old, err := waitServing(addr, 0, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				pids[old] = true
				if _, err := restartOnce(addr, old, inst.restart); err != nil {
					t.Fatalf("%v\n%s", err, logged())
				}
			}
			last, err := waitServing(addr, 0, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			pids[last] = true
		}()
		t.Logf("plain=%v: %v, closed idle %d", plain, r, r.ClosedIdle)
		if !plain && (r.Failed() > 0 || r.OK == 0) {
			t.Errorf("keep-alive load across drained restarts: %v %q", r, r.Errors)
		}
		if len(pids) != 4 {
			t.Errorf("plain=%v: 3 restarts, pids %v", plain, pids)
		}
		for pid := range pids {
			if !gone(pid) {
				t.Errorf("plain=%v: pid=%d still runs after stop", plain, pid)
			}
		}
		want := "successor ready, drained"
		if plain {
			want = "successor ready, shut down"
		}
		if n := strings.Count(logged(), want); n != 3 {
			t.Errorf("plain=%v: %d lines %q, want 3:\n%s", plain, n, want, logged())
		}
	}
}
