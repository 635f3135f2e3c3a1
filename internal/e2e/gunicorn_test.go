package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGunicorn serves a WSGI app with gunicorn from Debian through zedr-run.
// gunicorn uses LISTEN_FDS only when LISTEN_PID is its own pid, so this
// checks the shim the strict way; without the handed socket it would bind
// 127.0.0.1:8000 and our port would never answer.
func TestGunicorn(t *testing.T) {
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("gunicorn is not installed; scripts/install-test-deps.sh should have installed it")
		}
		t.Skip("gunicorn is not installed (scripts/install-test-deps.sh installs it)")
	}
	dir := t.TempDir()
	app := `import os
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("gunicorn generation=%s pid=%d\n" % (os.environ.get("ZEDR_GENERATION"), os.getppid())).encode()]
`
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	z := startZedr(t, "--listen", "tcp:127.0.0.1:0", "--ready", "delay:1s", "--",
		gunicorn, "--chdir", dir, "--workers", "2", "--graceful-timeout", "10", "app:app")
	z.readyPID(1)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "gunicorn generation=1 ") {
		t.Fatalf("gunicorn answered %q", body)
	}
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	const restarts = 10
	restartsUnderLoad(t, z, load, 2, restarts)
	stopLoad(t, load, fmt.Sprintf("gunicorn, %d restarts under load", restarts))
	z.waitLog(`msg="generation exited" gen=10 `)
	if body := get(t, z.addr, "/"); !strings.HasPrefix(body, "gunicorn generation=11 ") {
		t.Errorf("after %d restarts gunicorn answers %q", restarts, body)
	}
}
