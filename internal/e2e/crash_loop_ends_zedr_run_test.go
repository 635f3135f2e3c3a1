package e2e

import (
	"path/filepath"
	"testing"
)

// Guarantee: A crash loop ends zedr-run with the child's status (--start-limit).

// TestStartLimitNeverReady: a first child that always exits before it is
// ready is started again --start-limit times, then zedr-run stops and
// exits with the child's own exit code, saying why: an orchestrator sees
// the crash loop instead of a zedr-run that retries forever.
func TestStartLimitNeverReady(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	writeScript(t, app, "echo always failing >&2; exit 7")
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--start-limit", "3/60s", "--", app)
	if code := z.wait(); code != 7 {
		t.Fatalf("zedr-run exited %d, want 7 (the child's exit code)", code)
	}
	line := z.waitLog(`level=ERROR msg="start limit reached: stopping everything and exiting" reason="3 crash restarts within 1m0s, and the child failed again" limit=3/1m0s gen=4 .*last_exit="exit status 7"`)
	t.Logf("%s", line[0])
	if n := z.countLog(`msg="generation started"`); n != 4 {
		t.Errorf("%d generations started, want 4 (the first and 3 crash restarts)", n)
	}
}

// TestStartLimitCrashLoop: a child that becomes ready and then crashes,
// every time, is restarted --start-limit times; its next crash ends
// zedr-run with the crash's exit code.
func TestStartLimitCrashLoop(t *testing.T) {
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--start-limit", "3/60s", "--ready", "notify", "--", bin("testserver"), "-notify", "-mode", "crash-after=200ms")
	if code := z.wait(); code != 4 {
		t.Fatalf("zedr-run exited %d, want 4 (the crashed child's exit code)", code)
	}
	z.waitLog(`msg="start limit reached: stopping everything and exiting" reason="3 crash restarts within 1m0s, and the child failed again" .*gen=4 `)
	if n := z.countLog(`msg="generation ready"`); n != 4 {
		t.Errorf("%d generations were ready, want 4", n)
	}
	if n := z.countLog(`msg="child crashed"`); n != 4 {
		t.Errorf("%d crashes logged, want 4", n)
	}
}

// TestStartLimitFewCrashes: a child that crashes (before ready, then once
// ready) fewer times than the limit allows is started again until it
// serves, and zedr-run goes on; SIGTERM then stops it as usual.
func TestStartLimitFewCrashes(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	writeScript(t, app, `case "$ZEDR_GENERATION" in
1) exit 3;;
2|3) exec `+bin("testserver")+` -notify -mode crash-after=200ms;;
*) exec `+bin("testserver")+` -notify;;
esac`)
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--start-limit", "3/60s", "--ready", "notify", "--", app)
	z.readyPID(4)
	get(t, z.addr, "/")
	z.signal(15)
	if code := z.wait(); code != 0 {
		t.Fatalf("zedr-run exited %d after SIGTERM, want 0", code)
	}
	if n := z.countLog(`start limit`); n != 0 {
		t.Errorf("the start limit was reached with 3 failures of 3 allowed:\n%s", z.log())
	}
}
