package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Guarantee: Bad input is refused clearly.

// TestBadInput runs zedr-run with every kind of bad input and checks the
// exit code and the message a person would read.
func TestBadInput(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(plain, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", []string{"--listen", "tcp::8080"}, 2, "no command given"},
		{"unknown flag", []string{"--bogus", "--", "true"}, 2, "flag provided but not defined: -bogus"},
		{"spec without address", []string{"--listen", "tcp", "--", "true"}, 2, `bad --listen "tcp"`},
		{"unknown protocol", []string{"--listen", "sctp::80", "--", "true"}, 2, `bad --listen "sctp::80"`},
		{"port out of range", []string{"--listen", "tcp::70000", "--", "true"}, 2, `bad --listen "tcp::70000"`},
		{"unknown option", []string{"--listen", "tcp::8080,colour=red", "--", "true"}, 2, `bad --listen "tcp::8080,colour=red"`},
		{"mode not octal", []string{"--listen", "unix:/tmp/x.sock,mode=rw", "--", "true"}, 2, `bad --listen "unix:/tmp/x.sock,mode=rw"`},
		{"bad ready", []string{"--ready", "sometimes", "--", "true"}, 2, `bad --ready "sometimes"`},
		{"bad ready delay", []string{"--ready", "delay:soon", "--", "true"}, 2, `bad --ready "delay:soon"`},
		{"bad duration", []string{"--stop-timeout", "forever", "--", "true"}, 2, "invalid value \"forever\" for flag -stop-timeout"},
		{"zero timeout", []string{"--ready-timeout", "0s", "--", "true"}, 2, "bad --ready-timeout 0s: must be more than zero"},
		{"bad stop signal", []string{"--stop-signal", "NOPE", "--", "true"}, 2, `bad --stop-signal "NOPE"`},
		{"restart signal TERM", []string{"--restart-signal", "TERM", "--", "true"}, 2, `bad --restart-signal "TERM": SIGTERM cannot be a restart signal`},
		{"bad compat", []string{"--compat", "inetd", "--", "true"}, 2, "inetd"},
		{"fdstore without a manager", []string{"--fdstore", "--listen", "tcp:127.0.0.1:0", "--", "true"}, 2, "--fdstore needs a service manager: NOTIFY_SOCKET is not set"},
		{"bad log level", []string{"--log-level", "loud", "--", "true"}, 2, `bad --log-level "loud"`},
		{"zero workers", []string{"--workers", "0", "--", "true"}, 2, "bad --workers 0: must be 1 or more"},
		// A command that does not exist: a zedr-run without the bound fails
		// on it (exit 1) instead of forking thousands of workers.
		{"too many workers", []string{"--workers", "10000", "--", "/no/such/server"}, 2, "bad --workers 10000: at most 1024"},
		{"bad rollout", []string{"--rollout", "sometimes", "--", "true"}, 2, `bad --rollout "sometimes": want rolling or all`},
		{"unknown user", []string{"--user", "no-such-user-zedr", "--", "true"}, 2, `user "no-such-user-zedr": no such user or group`},
		{"unknown group", []string{"--user", "nobody:no-such-group-zedr", "--", "true"}, 2, `group "no-such-group-zedr": no such user or group`},
		{"group without user", []string{"--group", "nogroup", "--", "true"}, 2, "--group \"nogroup\" needs --user"},
		{"duplicate listen", []string{"--listen", "tcp:" + busy.Addr().String(), "--listen", "tcp:" + busy.Addr().String() + ",name=x", "--", "true"}, 2, "duplicate of tcp:" + busy.Addr().String() + ": both bind tcp " + busy.Addr().String()},
		{"duplicate listen tcp4 and tcp", []string{"--listen", "tcp4:" + busy.Addr().String(), "--listen", "tcp:" + busy.Addr().String(), "--", "true"}, 2, "duplicate of tcp4:" + busy.Addr().String()},
		{"duplicate unix path", []string{"--listen", "unix:" + filepath.Join(dir, "dup.sock"), "--listen", "unix:" + filepath.Join(dir, ".", "dup.sock") + ",name=b", "--", "true"}, 2, "duplicate of unix:"},
		{"unknown socket owner", []string{"--listen", "unix:" + filepath.Join(dir, "owned.sock") + ",owner=no-such-user-zedr", "--", "true"}, 2, `owner=no-such-user-zedr: user "no-such-user-zedr": no such user`},
		{"unknown socket group", []string{"--listen", "unix:" + filepath.Join(dir, "owned.sock") + ",owner=nobody:no-such-group-zedr", "--", "true"}, 2, `group "no-such-group-zedr": no such group`},
		{"mode not octal digits", []string{"--listen", "unix:/tmp/x.sock,mode=0999", "--", "true"}, 2, `bad mode "0999": want octal`},
		{"command not found", []string{"--listen", "tcp:127.0.0.1:0", "--", "/no/such/server"}, 1, "cannot run /no/such/server"},
		{"port in use", []string{"--listen", "tcp:" + busy.Addr().String(), "--", "true"}, 1, "address already in use"},
		{"missing directory", []string{"--listen", "unix:" + filepath.Join(dir, "no/such/dir/app.sock"), "--", "true"}, 1, "no such file or directory"},
		{"not a socket", []string{"--listen", "unix:" + plain, "--", "true"}, 1, plain},
		{"zero watch settle", []string{"--watch-settle", "0s", "--", "true"}, 2, "bad --watch-settle 0s: must be more than zero"},
		{"watch in a missing directory", []string{"--watch", "/no/such/dir/app.conf", "--", "true"}, 1, "watch /no/such/dir/app.conf: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin("zedr-run"), tc.args...)
			for _, kv := range os.Environ() { // as run by hand, not by a service manager
				if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if err != nil && code < 0 {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("zedr-run %s\nexit %d, stderr:\n%s\nwant exit %d and a message with %q", strings.Join(tc.args, " "), code, stderr.String(), tc.code, tc.msg)
			}
			if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n") + 1; tc.code == 1 && lines > 2 {
				t.Errorf("a startup failure should say what failed in a line or two, got %d lines:\n%s", lines, stderr.String())
			}
		})
	}
	for _, name := range []string{"dup.sock", "owned.sock"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s was created by a zedr-run that should have stopped before opening anything", name)
		}
	}
	if b, err := os.ReadFile(plain); err != nil || string(b) != "keep me" {
		t.Errorf("the plain file at a --listen path was touched: %q, %v", b, err)
	}
}

// TestInterceptBadInput: transparent mode's options are checked before
// anything starts.
func TestInterceptBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"ready listen without intercept", []string{"--listen", "tcp:127.0.0.1:0", "--ready", "listen", "--", "true"}, "--ready listen: it needs --intercept-bind"},
		{"listen auto without intercept", []string{"--listen", "auto", "--listen", "tcp:127.0.0.1:0", "--", "true"}, "bad --listen auto: it needs --intercept-bind"},
		{"intercept with compat", []string{"--intercept-bind", "--listen", "tcp:127.0.0.1:0", "--compat", "nginx", "--", "true"}, "--compat cannot be used with --intercept-bind"},
		{"ready listen with argument", []string{"--intercept-bind", "--listen", "tcp:127.0.0.1:0", "--ready", "listen:3", "--", "true"}, `bad --ready "listen:3"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execZedr(tc.args...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != 2 || !strings.Contains(string(out), tc.msg) {
				t.Errorf("zedr-run %s: exit %d, output %q; want exit 2 and %q", strings.Join(tc.args, " "), code, out, tc.msg)
			}
		})
	}
}

// TestPidFileDiskFull: a pid file that cannot be written (a full file
// system) is a startup failure with the reason, and nothing is started.
func TestPidFileDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small file system")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	dir := t.TempDir()
	script := `mount -t tmpfs -o size=16k tmpfs "$0" && (dd if=/dev/zero of="$0/fill" bs=4k count=100 2>/dev/null; true) && exec "$@"`
	cmd := exec.Command(unshare, "--mount", "sh", "-c", script, dir, bin("zedr-run"), "--pid-file", filepath.Join(dir, "zedr-run.pid"), "--listen", "tcp:127.0.0.1:0", "--", bin("testserver"))
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		cmd.Process.Kill()
		t.Fatal("zedr-run with a pid file on a full disk did not exit")
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "no space left on device") {
		t.Errorf("exit %d, output:\n%s\nwant exit 1 and the reason (no space left on device)", code, out)
	}
	if strings.Contains(string(out), "generation started") {
		t.Errorf("a child was started although the pid file could not be written:\n%s", out)
	}
}
