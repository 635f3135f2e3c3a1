package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Guarantee: The Kubernetes example works: a ConfigMap change and a pod's termination lose no request, and its probes tell the truth at each step.

// k8sExample is examples/kubernetes/myserver.yaml: the pod's container and
// its ConfigMap.
type k8sExample struct {
	argv        []string      // the container's command and args
	startup     []string      // the startup probe's exec command
	readyz      string        // the readiness probe's httpGet path
	healthz     string        // the liveness probe's httpGet path
	probePort   int           // the containerPort the httpGet probes name
	grace       time.Duration // terminationGracePeriodSeconds
	mountPath   string        // where the ConfigMap is mounted
	configFiles map[string]string
}

// loadK8sExample reads the example with python3's yaml module (there is no
// YAML parser in Go's standard library, and none is worth a dependency for
// one test); the test is skipped where it is missing.
func loadK8sExample(t *testing.T) k8sExample {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: cannot read the YAML")
	}
	out, err := exec.Command(python, "-c", `import sys, json, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)`,
		fromRoot("examples", "kubernetes", "myserver.yaml")).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && strings.Contains(string(exit.Stderr), "No module named 'yaml'") {
			t.Skip("python3 has no yaml module: cannot read the YAML")
		}
		t.Fatalf("examples/kubernetes/myserver.yaml does not parse: %v", err)
	}
	var docs []struct {
		Kind string
		Data map[string]string
		Spec struct {
			Template struct {
				Spec struct {
					TerminationGracePeriodSeconds int
					Containers                    []struct {
						Command, Args []string
						Ports         []struct {
							Name          string
							ContainerPort int
						}
						StartupProbe   struct{ Exec struct{ Command []string } }
						ReadinessProbe struct{ HTTPGet struct{ Path, Port string } }
						LivenessProbe  struct{ HTTPGet struct{ Path, Port string } }
						VolumeMounts   []struct{ Name, MountPath string }
					}
					Volumes []struct {
						Name      string
						ConfigMap *struct{ Name string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatal(err)
	}
	var ex k8sExample
	for _, d := range docs {
		switch d.Kind {
		case "ConfigMap":
			ex.configFiles = d.Data
		case "Deployment":
			pod := d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("the Deployment has %d containers, want 1", len(pod.Containers))
			}
			c := pod.Containers[0]
			ex.argv = append(append([]string{}, c.Command...), c.Args...)
			ex.startup = c.StartupProbe.Exec.Command
			ex.readyz, ex.healthz = c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path
			for _, p := range c.Ports {
				if p.Name == c.ReadinessProbe.HTTPGet.Port {
					ex.probePort = p.ContainerPort
				}
			}
			ex.grace = time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
			for _, v := range pod.Volumes {
				for _, m := range c.VolumeMounts {
					if v.ConfigMap != nil && m.Name == v.Name {
						ex.mountPath = m.MountPath
					}
				}
			}
		}
	}
	if len(ex.argv) == 0 || len(ex.startup) == 0 || ex.readyz == "" || ex.healthz == "" || ex.probePort == 0 || ex.grace == 0 || ex.mountPath == "" || len(ex.configFiles) == 0 {
		t.Fatalf("examples/kubernetes/myserver.yaml lacks a part the test plays: %+v", ex)
	}
	return ex
}

// option is the value of --name=V or --name V in argv, or "".
func option(argv []string, name string) string {
	for i, a := range argv {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}

// atomicWriter writes a ConfigMap volume as the kubelet does
// (pkg/volume/util/atomic_writer.go): the files in a new timestamped
// directory, a ..data_tmp symlink to it renamed over ..data, a symlink per
// key to ..data/KEY, then the old directory removed.
type atomicWriter struct {
	dir string
	n   int
}

func (w *atomicWriter) write(t *testing.T, files map[string]string) {
	t.Helper()
	w.n++
	ts := fmt.Sprintf("..%s.%09d", time.Now().UTC().Format("2006_01_02_15_04_05"), w.n)
	if err := os.Mkdir(filepath.Join(w.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(w.dir, ts, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(w.dir, "..data"))
	if err := os.Symlink(ts, filepath.Join(w.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(w.dir, "..data_tmp"), filepath.Join(w.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for k := range files {
		link := filepath.Join(w.dir, k)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(w.dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// readyzPoller asks /readyz over and over, as a kubelet does (more often),
// and counts the answers by status code.
type readyzPoller struct {
	stop, done chan struct{}
	mu         sync.Mutex
	codes      map[int]int
}

func pollReadyz(addr, path string) *readyzPoller {
	p := &readyzPoller{stop: make(chan struct{}), done: make(chan struct{}), codes: map[int]int{}}
	go func() {
		defer close(p.done)
		for {
			code := 0 // no answer
			if res, err := httpClient.Get("http://" + addr + path); err == nil {
				res.Body.Close()
				code = res.StatusCode
			}
			p.mu.Lock()
			p.codes[code]++
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-time.After(20 * time.Millisecond): // pace the probes
			}
		}
	}()
	return p
}

func (p *readyzPoller) finish() map[int]int {
	close(p.stop)
	<-p.done
	return p.codes
}

// TestKubernetesExample plays the kubelet against the real binary with the
// example's own command, args and probes: the pod starts and the startup
// (exec) and readiness (/readyz) probes pass; the ConfigMap changes (the
// ..data symlink swap) and a new generation that read the new file takes
// over with 0 failed requests while /readyz never fails; then the pod is
// terminated: SIGTERM, /readyz 503 and the exec probe 3 at once while the
// server serves on through --stop-delay with 0 failed, and zedr-run exits 0
// well before the grace period after which the kubelet would SIGKILL it.
func TestKubernetesExample(t *testing.T) {
	ex := loadK8sExample(t)
	delay, err := time.ParseDuration(option(ex.argv, "--stop-delay"))
	if err != nil {
		t.Fatalf("--stop-delay in the example: %v", err)
	}
	timeout, err := time.ParseDuration(option(ex.argv, "--stop-timeout"))
	if err != nil {
		t.Fatalf("--stop-timeout in the example: %v", err)
	}
	if ex.grace <= delay+timeout {
		t.Fatalf("terminationGracePeriodSeconds %v is not above --stop-delay %v plus --stop-timeout %v", ex.grace, delay, timeout)
	}

	// The pod's file system, on this machine: the ConfigMap volume, the
	// emptyDir of the control socket, the ports on loopback.
	dir := t.TempDir()
	cm := &atomicWriter{dir: filepath.Join(dir, "config")}
	if err := os.Mkdir(cm.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cm.write(t, ex.configFiles)
	runDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctlDir := filepath.Dir(option(ex.argv, "--control"))
	httpAddr := freePort(t)
	httpPort := fmt.Sprintf(":%d", ex.probePort)
	if !strings.HasSuffix(option(ex.argv, "--http"), httpPort) {
		t.Fatalf("--http %q is not on the probes' port %d", option(ex.argv, "--http"), ex.probePort)
	}
	localize := func(argv []string) []string {
		out := make([]string, len(argv))
		for i, a := range argv {
			a = strings.ReplaceAll(a, ex.mountPath, cm.dir)
			a = strings.ReplaceAll(a, ctlDir, runDir)
			a = strings.Replace(a, "tcp::8080", "tcp:127.0.0.1:0", 1)
			if v, ok := strings.CutPrefix(a, "--http="); ok && v == option(ex.argv, "--http") {
				a = "--http=" + httpAddr
			}
			switch a {
			case "/zedr-run":
				a = bin("zedr-run")
			case "/myserver":
				a = bin("testserver")
			}
			out[i] = a
		}
		return out
	}
	argv, startup := localize(ex.argv), localize(ex.startup)
	t.Logf("container: %s", strings.Join(argv, " "))
	execProbe := func() int {
		t.Helper()
		return exitCode(t, exec.Command(startup[0], startup[1:]...))
	}

	// The pod starts.
	z := startCmd(t, exec.Command(argv[0], argv[1:]...), true)
	deadline := time.Now().Add(waitLimit)
	for execProbe() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the startup probe did not pass within %v", waitLimit)
		}
		time.Sleep(50 * time.Millisecond) // the probe's period
	}
	if code := probeHTTP(t, httpAddr, ex.readyz); code != 200 {
		t.Fatalf("%s %d once the startup probe passed, want 200", ex.readyz, code)
	}
	if code := probeHTTP(t, httpAddr, ex.healthz); code != 200 {
		t.Fatalf("%s %d, want 200", ex.healthz, code)
	}
	if body := get(t, z.addr, "/"); !strings.Contains(body, "config=greeting=hello") {
		t.Fatalf("the server answered %q; want the ConfigMap's greeting=hello", body)
	}

	// The ConfigMap changes: a zero-downtime restart.
	load := startLoad(t, z.addr)
	waitRequests(t, load, 200)
	readyz := pollReadyz(httpAddr, ex.readyz)
	cm.write(t, map[string]string{"app.conf": "greeting=v2\n"})
	z.readyPID(2)
	z.waitLog(`msg="generation exited" gen=1 `)
	waitRequests(t, load, 200)
	codes := readyz.finish()
	res := stopLoad(t, load, "across the ConfigMap change")
	t.Logf("%s during the reload: %v", ex.readyz, codes)
	if len(codes) != 1 || codes[200] == 0 {
		t.Errorf("%s answered %v during the config reload; want only 200", ex.readyz, codes)
	}
	if code := execProbe(); code != 0 {
		t.Errorf("exec probe %d after the reload, want 0", code)
	}
	seen := map[string]int{}
	for body, n := range res.Bodies {
		_, cfg, _ := strings.Cut(body, " config=")
		seen[cfg] += n
	}
	t.Logf("answers by config: %v", seen)
	if seen["greeting=v2"] == 0 {
		t.Errorf("no answer with the new config: %v", seen)
	}
	if body := get(t, z.addr, "/"); !strings.Contains(body, "config=greeting=v2") {
		t.Errorf("after the reload the server answered %q; want greeting=v2", body)
	}

	// The pod is terminated: SIGTERM to the container's PID 1, SIGKILL
	// after the grace period if it still runs.
	load = startLoad(t, z.addr)
	waitRequests(t, load, 100)
	began := time.Now()
	z.signal(syscall.SIGTERM)
	z.waitLog(`msg="serving on for the stop delay before stopping"`)
	if code := probeHTTP(t, httpAddr, ex.readyz); code != 503 {
		t.Errorf("%s %d during the stop delay, want 503", ex.readyz, code)
	}
	if code := probeHTTP(t, httpAddr, ex.healthz); code != 200 {
		t.Errorf("%s %d during the stop delay, want 200", ex.healthz, code)
	}
	if code := execProbe(); code != 3 {
		t.Errorf("exec probe %d during the stop delay, want 3", code)
	}
	waitRequests(t, load, 300) // the endpoints still send traffic
	stopLoad(t, load, "after SIGTERM, during the stop delay")
	if n := z.countLog(`msg="stopping generation" gen=2 `); n != 0 {
		t.Fatalf("the server was stopped before the load ended: the stop delay %v did not hold", delay)
	}
	select {
	case <-z.exited:
	case <-time.After(ex.grace - time.Since(began)):
		z.signal(syscall.SIGKILL)
		t.Fatalf("zedr-run still ran after the grace period %v: the kubelet killed it", ex.grace)
	}
	took := time.Since(began)
	t.Logf("zedr-run exited %v after SIGTERM (stop delay %v, grace period %v)", took.Round(time.Millisecond), delay, ex.grace)
	if code := z.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("zedr-run exited %d, want 0", code)
	}
	if took < delay {
		t.Errorf("zedr-run exited %v after SIGTERM, before the stop delay %v", took, delay)
	}
	if code := execProbe(); code != 1 {
		t.Errorf("exec probe %d once zedr-run exited, want 1", code)
	}
}
