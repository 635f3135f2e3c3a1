package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Guarantee: A restart starts the child from a spare shim, and the child
// gets what a forked shim gives it; no spare outlives zedr-run.

// spareScript records, per generation, its descriptors (the sockets'
// inodes too), LISTEN_PID and its pid, its uid, then sleeps.
func spareScript(t *testing.T, dir, out string) string {
	script := filepath.Join(dir, "child.sh")
	// ls, not a loop in the shell: a command substitution's pipe would
	// show among the shell's fds, or not, as the fork goes.
	writeScript(t, script, `f="`+out+`.$ZEDR_GENERATION"
ls -l /proc/$$/fd > "$f.tmp"
echo "LISTEN_PID=$LISTEN_PID pid=$$ LISTEN_FDS=$LISTEN_FDS uid=$(id -u)" >> "$f.tmp"
mv "$f.tmp" "$f"
exec sleep 1000`)
	return script
}

// TestSpareShimStartsRestart: the second generation is started from the
// spare shim that zedr-run forked after the first (the log says so, and
// its pid is the spare's); it gets the same descriptors, in the same order,
// as the first generation, which a forked shim started, and LISTEN_PID is
// its own pid. As root, with --user nobody, it runs as nobody.
func TestSpareShimStartsRestart(t *testing.T) {
	for _, user := range []string{"", "nobody"} {
		t.Run("user="+user, func(t *testing.T) {
			args := []string{"--log-level", "debug", "--listen", "tcp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms"}
			if user != "" {
				if os.Geteuid() != 0 {
					t.Skip("--user needs root")
				}
				if err := os.Chmod(binDir, 0o755); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--user", user)
			}
			// A directory that nobody can reach, write and run from.
			dir, err := os.MkdirTemp("", "spare-shim-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			os.Chmod(dir, 0o777)
			out := filepath.Join(dir, "fds")
			script := spareScript(t, dir, out)
			z := startZedr(t, append(args, "--", script)...)
			first := z.readyPID(1)
			spare := z.waitLog(`msg="spare shim ready" pid=(\d+)`)[1]
			z.signal(syscall.SIGUSR2)
			z.waitLog(`msg="started from the spare shim" gen=2 worker=0 pid=` + spare + `\b`)
			second := z.readyPID(2)
			if strconv.Itoa(second) != spare {
				t.Errorf("generation 2 is pid=%d, not the spare's pid=%s", second, spare)
			}
			waitFileExists(t, out+".1")
			waitFileExists(t, out+".2")
			got1, _ := os.ReadFile(out + ".1")
			got2, _ := os.ReadFile(out + ".2")
			uid := "0"
			if user != "" {
				uid = "65534"
			}
			want := func(pid int, _ []byte) string {
				return "LISTEN_PID=" + strconv.Itoa(pid) + " pid=" + strconv.Itoa(pid) + " LISTEN_FDS=2 uid=" + uid
			}
			t.Logf("generation 1 (forked shim):\n%s\ngeneration 2 (spare):\n%s", got1, got2)
			lines1, lines2 := splitLines(got1), splitLines(got2)
			if len(lines1) == 0 || len(lines2) == 0 {
				t.Fatal("a generation wrote nothing")
			}
			if last := lines1[len(lines1)-1]; last != want(first, got1) {
				t.Errorf("generation 1: %q, want %q", last, want(first, got1))
			}
			if last := lines2[len(lines2)-1]; last != want(second, got2) {
				t.Errorf("generation 2: %q, want %q", last, want(second, got2))
			}
			if a, b := lines1[:len(lines1)-1], lines2[:len(lines2)-1]; !slices.Equal(a, b) {
				t.Errorf("generation 2 has descriptors\n%q\nwhere a forked shim gives\n%q", b, a)
			}
		})
	}
}

// TestSpareShimEndsWithZedr: a spare that was never used ends with
// zedr-run killed by SIGKILL (its status channel's EOF, and the
// parent-death signal), and with zedr-run stopped.
func TestSpareShimEndsWithZedr(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			z := startZedr(t, "--log-level", "debug", "--listen", "tcp:127.0.0.1:0", "--ready", "delay:100ms", "--", bin("testserver"))
			z.readyPID(1)
			spare, _ := strconv.Atoi(z.waitLog(`msg="spare shim ready" pid=(\d+)`)[1])
			if !pidAlive(spare) {
				t.Fatalf("the spare pid=%d is not running", spare)
			}
			if env := readEnviron(t, spare); len(env) != 0 {
				t.Errorf("the spare has an environment %v: a containment scan could take it for a worker", env)
			}
			z.signal(sig)
			z.wait()
			waitGone(t, spare)
		})
	}
}

// TestSpareShimAfterStoreChange: a spare forked before the child stored
// an fd no longer gives what a worker gets: it is dropped (a removed fd
// must not stay open in it: TestChildFDStore's taken-over connection
// would never close), and once the store has settled the next spare is
// forked with the stored fd in its place, and starts the restart.
func TestSpareShimAfterStoreChange(t *testing.T) {
	z := startZedr(t, "--log-level", "debug", "--listen", "tcp:127.0.0.1:0,name=web", "--ready", "notify", "--",
		bin("testserver"), "-notify", "-fdstore")
	z.waitLog(`generation=1 .* fdstore counter=1 fdnames=web$`)
	z.readyPID(1)
	z.waitLog(`msg="spare shim dropped: the fd store changed"`)
	spare := z.waitLogN(`msg="spare shim ready" pid=(\d+)`, 2)[1]
	z.signal(syscall.SIGUSR2)
	z.waitLog(`msg="started from the spare shim" gen=2 worker=0 pid=` + spare + `\b`)
	z.waitLog(`generation=2 pid=` + spare + ` .* fdstore counter=2 fdnames=web:counter$`)
	if pid := z.readyPID(2); strconv.Itoa(pid) != spare {
		t.Errorf("generation 2 is pid=%d, not the spare's pid=%s", pid, spare)
	}
}

// splitLines turns spareScript's output into one line per fd ("3
// socket:[123]": what the others are, the script's output file among them,
// differs by generation) and its last line as it is.
func splitLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, "total"):
		case len(f) >= 3 && f[len(f)-2] == "->":
			fd, target := f[len(f)-3], f[len(f)-1]
			if strings.HasPrefix(target, "socket:") {
				fd += " " + target
			}
			out = append(out, fd)
		default:
			out = append(out, l)
		}
	}
	return out
}
