package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Guarantee: Deploying by replacing the binary works whatever the method, and
// never starts a partial file.
//
// The deploy tests replace the running binary in every way deployments do,
// under bounded load, and check that zedr-run restarts exactly when the
// content changed and only onto a complete, working binary.

// TestDeployPatterns replaces the binary in each way deployments do; each
// gives exactly one restart onto the new binary, with no failed request.
func TestDeployPatterns(t *testing.T) {
	settle := []string{"--watch-settle", testSettle}
	for _, tc := range []struct {
		name   string
		deploy func(t *testing.T, dir, app string)
	}{
		{"mv over the binary", func(t *testing.T, dir, app string) {
			writeFile(t, filepath.Join(dir, "build"), binVersion(t, 2), 0o755)
			runIn(t, dir, "mv", "build", "app")
		}},
		{"install", func(t *testing.T, dir, app string) {
			writeFile(t, filepath.Join(dir, "build"), binVersion(t, 2), 0o644)
			runIn(t, dir, "install", "-m", "0755", "build", "app")
		}},
		{"rsync temp file and rename", func(t *testing.T, dir, app string) {
			// rsync writes .app.XXXXXX slowly, then renames it over app.
			tmp := filepath.Join(dir, ".app.Gx81Qz")
			f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			v := binVersion(t, 2)
			for i := 0; i < len(v); i += 1 << 20 {
				f.Write(v[i:min(i+1<<20, len(v))])
			}
			f.Chmod(0o755)
			f.Close()
			os.Rename(tmp, app)
		}},
		{"unlink then create", func(t *testing.T, dir, app string) {
			if err := os.Remove(app); err != nil {
				t.Fatal(err)
			}
			writeFile(t, app, binVersion(t, 2), 0o755)
		}},
		{"cp over the running binary fails with ETXTBSY, cp then mv works", func(t *testing.T, dir, app string) {
			writeFile(t, filepath.Join(dir, "build"), binVersion(t, 2), 0o755)
			out, err := exec.Command("cp", filepath.Join(dir, "build"), app).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "Text file busy") {
				t.Fatalf("cp over a running binary: %v %s; want it to fail with Text file busy", err, out)
			}
			t.Logf("cp over the running binary: %s", strings.TrimSpace(string(out)))
			runIn(t, dir, "cp", "build", "app.new")
			runIn(t, dir, "mv", "app.new", "app")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			app := filepath.Join(dir, "app")
			writeFile(t, app, binVersion(t, 1), 0o755)
			d := startDeploy(t, settle, app, "-notify")
			tc.deploy(t, dir, app)
			d.readyPID(2)
			d.wantServing(2, app)
			d.finish(1)
		})
	}
}

// TestDeployScriptRewrittenInPlace: a script rewritten in place (truncate,
// then write) restarts once; a script is not mapped while it runs, so unlike
// an ELF binary it can be rewritten.
func TestDeployScriptRewrittenInPlace(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	script := func(v int) []byte {
		return []byte(fmt.Sprintf("#!/bin/sh\n# version %d\nexec %s \"$@\"\n", v, bin("testserver")))
	}
	writeFile(t, app, script(1), 0o755)
	d := startDeploy(t, []string{"--watch-settle", testSettle}, app, "-notify")
	f, err := os.OpenFile(app, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(script(2)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d.waitLog(restartRequested + app + ` changed: size \d+ -> \d+`)
	d.readyPID(2)
	d.wantServing(2, "")
	d.finish(1)
}

// TestDeploySymlinkFlip: flipping a symlink to the binary, or a symlink to a
// release directory on the command's path (ln -sfn releases/v2 current),
// restarts onto the binary it now leads to.
func TestDeploySymlinkFlip(t *testing.T) {
	t.Run("binary", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "app-v1"), binVersion(t, 1), 0o755)
		writeFile(t, filepath.Join(dir, "app-v2"), binVersion(t, 2), 0o755)
		runIn(t, dir, "ln", "-s", "app-v1", "app")
		d := startDeploy(t, []string{"--watch-settle", testSettle}, filepath.Join(dir, "app"), "-notify")
		runIn(t, dir, "ln", "-sfn", "app-v2", "app")
		d.readyPID(2)
		d.wantServing(2, filepath.Join(dir, "app-v2"))
		d.finish(1)
	})
	t.Run("release directory", func(t *testing.T) {
		dir := t.TempDir()
		for v := 1; v <= 2; v++ {
			rel := filepath.Join(dir, "releases", fmt.Sprintf("v%d", v))
			if err := os.MkdirAll(rel, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(rel, "app"), binVersion(t, v), 0o755)
		}
		runIn(t, dir, "ln", "-s", "releases/v1", "current")
		d := startDeploy(t, []string{"--watch-settle", testSettle}, filepath.Join(dir, "current", "app"), "-notify")
		runIn(t, dir, "ln", "-sfn", "releases/v2", "current")
		d.readyPID(2)
		d.wantServing(2, filepath.Join(dir, "releases", "v2", "app"))
		d.finish(1)
	})
}

// TestDeployWatchedDirectoryReplaced: a --watch directory (a conf.d) that is
// itself replaced by another one restarts once.
func TestDeployWatchedDirectoryReplaced(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "conf.d")
	for _, d := range []string{conf, conf + ".new"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(conf, "site.conf"), []byte("port 1\n"), 0o644)
	writeFile(t, filepath.Join(conf+".new", "site.conf"), []byte("port 2\n"), 0o644)
	d := startDeploy(t, []string{"--watch-settle", testSettle, "--watch", conf}, bin("testserver"), "-notify")
	runIn(t, dir, "mv", "conf.d", "conf.d.old")
	runIn(t, dir, "mv", "conf.d.new", "conf.d")
	d.waitLog(restartRequested + regexp.QuoteMeta(conf+" (site.conf) changed: size 7 -> 7"))
	d.readyPID(2)
	d.finish(1)
}

// TestDeployDeletedNotReplaced: a binary deleted and not replaced restarts
// nothing; the old generation keeps serving with a warning, and a binary
// deployed later is picked up.
func TestDeployDeletedNotReplaced(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	writeFile(t, app, binVersion(t, 1), 0o755)
	d := startDeploy(t, []string{"--watch-settle", testSettle}, app, "-notify")
	if err := os.Remove(app); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`level=WARN msg="watch: watched file deleted and not replaced" path=` + app)
	waitRequests(t, d.load, 500)
	d.wantServing(1, "")
	renameInto(t, app, binVersion(t, 2), 0o755)
	d.waitLog(restartRequested + app + ` changed: size none -> \d+, sha256 none -> `)
	d.readyPID(2)
	d.wantServing(2, app)
	d.finish(1)
}

// TestDeployTouchChmod: neither a touch nor a chmod is a content change.
func TestDeployTouchChmod(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	writeFile(t, app, binVersion(t, 1), 0o755)
	d := startDeploy(t, []string{"--watch-settle", testSettle, "--log-level", "debug"}, app, "-notify")
	d.settled(app) // a touch
	if err := os.Chmod(app, 0o700); err != nil {
		t.Fatal(err)
	}
	d.waitLogN(`msg="watch: no content change" path=`+app, 2)
	waitRequests(t, d.load, 200)
	d.wantServing(1, app)
	d.finish(0)
}

// TestDeployBurst: several deploys in a row, within the settle time, give one
// restart, onto the last one.
func TestDeployBurst(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	writeFile(t, app, binVersion(t, 1), 0o755)
	d := startDeploy(t, []string{"--log-level", "debug"}, app, "-notify") // the default settle
	for v := 2; v <= 6; v++ {
		renameInto(t, app, binVersion(t, v), 0o755)
	}
	d.readyPID(2)
	d.settled(app)
	d.wantServing(2, app)
	if got, want := d.countLog(restartRequested), 1; got != want {
		t.Errorf("%d restarts for a burst of 5 deploys, want %d", got, want)
	}
	d.finish(1)
}

// TestDeploySlowWrite: a binary written slowly in place (4 MiB and more in
// chunks over about 2 s, with a pause longer than the settle time in the
// middle) restarts exactly once, after the write is complete: the
// half-written ELF file is recognised as incomplete and never started.
func TestDeploySlowWrite(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	writeFile(t, app, binVersion(t, 1), 0o755)
	d := startDeploy(t, []string{"--log-level", "debug"}, app, "-notify")
	v := binVersion(t, 2)
	if len(v) < 4<<20 {
		t.Fatalf("the test binary is only %d bytes; want at least 4 MiB", len(v))
	}
	// The running binary cannot be opened for writing (ETXTBSY): unlink it
	// first, as scp to a fresh path or a deploy script's rm would.
	if err := os.Remove(app); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(app, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	const chunks = 32
	size := (len(v) + chunks - 1) / chunks
	for i := 0; i < chunks; i++ {
		if _, err := f.Write(v[i*size : min((i+1)*size, len(v))]); err != nil {
			t.Fatal(err)
		}
		if i == chunks/2 {
			// A pause longer than the settle time: the watcher looks, sees an
			// ELF file whose headers point past its end, and waits.
			d.waitLog(`msg="watch: file is still being written, waiting" path=` + app)
		} else {
			time.Sleep(2 * time.Second / chunks) // the pace of the write, not a synchronization
		}
	}
	f.Close()
	d.readyPID(2)
	d.settled(app)
	d.wantServing(2, app)
	if n := d.countLog(`msg="generation (rolled back|failed to start)"`); n != 0 {
		t.Errorf("%d generations failed: a partial file was started", n)
	}
	d.finish(1)
}

// TestDeployDuringRestart: a deploy while the previous one is still starting
// gives one more restart after it, onto the last binary.
func TestDeployDuringRestart(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	writeFile(t, app, binVersion(t, 1), 0o755)
	d := startDeploy(t, []string{"--watch-settle", testSettle}, app, "-notify", "-start-delay", "1s")
	renameInto(t, app, binVersion(t, 2), 0o755)
	d.waitLog(`msg="generation started" gen=2 `)
	renameInto(t, app, binVersion(t, 3), 0o755)
	d.readyPID(3)
	d.wantServing(3, app)
	d.finish(2)
}

// TestDeployCheck: a failing --check vetoes the restart and its output is
// logged; once it passes, the next deploy restarts.
func TestDeployCheck(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	ok := filepath.Join(dir, "config-ok")
	writeFile(t, app, binVersion(t, 1), 0o755)
	check := fmt.Sprintf(`test -f %s || { echo "config test failed: %s is missing"; echo "on stderr too" >&2; exit 4; }; echo config test ok`, ok, ok)
	d := startDeploy(t, []string{"--watch-settle", testSettle, "--check", check}, app, "-notify")

	renameInto(t, app, binVersion(t, 2), 0o755)
	d.waitLog(`level=ERROR msg="check failed: no restart" .*status="exit status 4" .*output="config test failed: ` + regexp.QuoteMeta(ok) + ` is missing\\non stderr too\\n"`)
	waitRequests(t, d.load, 500)
	d.wantServing(1, "")
	if n := d.countLog(`msg="generation started" gen=2 `); n != 0 {
		t.Fatal("a generation started although the check failed")
	}

	writeFile(t, ok, nil, 0o644)
	renameInto(t, app, binVersion(t, 3), 0o755)
	d.waitLog(`msg="check passed" .*output="config test ok\\n"`)
	d.readyPID(2)
	d.wantServing(2, app)
	d.finish(2)
}
