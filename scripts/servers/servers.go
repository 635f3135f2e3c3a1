package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"zedr-run/internal/realservers"
)

// The servers, their minimal configurations and their stop signals.

// server is one server program and how to run it.
type server struct {
	name        string
	tool        string   // the binary looked up in PATH
	packages    []string // Debian packages that install it
	versionArgs []string
	variants    []variant
	setup       func(dir string, port int, v variant) setup
	load        func(addr string) (load, error)
}

// variant is one way to stop it: its stop signal, and for a server that
// needs a change to stop gracefully (a hook, a signal handler), which.
type variant struct {
	signal string
	change string // "" for none; else what differs, shown in the table
}

func (v variant) label() string {
	if v.change == "" {
		return v.signal
	}
	return v.signal + " (" + v.change + ")"
}

// setup is what a run needs: the command, the sockets it binds, and how it
// tells it is ready.
type setup struct {
	command []string
	listen  []string // --listen specs
	ready   string
}

func names() []string {
	var ns []string
	for _, s := range servers {
		ns = append(ns, s.name)
	}
	return ns
}

// versionRE finds the version in the first line a server prints.
var versionRE = regexp.MustCompile(`\d+\.\d+(\.\d+)?`)

func (s server) version() string {
	out, _ := exec.Command(s.tool, s.versionArgs...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if v := versionRE.FindString(line); v != "" {
		return v
	}
	return strings.TrimSpace(line)
}

// write writes a file of the run, or gives up.
func write(path, content string) string {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		fatal(err)
	}
	return path
}

// webRoot writes a directory with a small index.html.
func webRoot(dir string) string {
	root, err := realservers.WebRoot(dir)
	if err != nil {
		fatal(err)
	}
	return root
}

func tcp(port int) []string { return []string{"tcp:127.0.0.1:" + strconv.Itoa(port)} }
func udpTCP(port int) []string {
	return []string{"udp:127.0.0.1:" + strconv.Itoa(port), "tcp:127.0.0.1:" + strconv.Itoa(port)}
}

var servers = []server{
	{
		name: "nginx", tool: "nginx", packages: []string{"nginx"}, versionArgs: []string{"-v"},
		// QUIT: graceful shutdown; TERM: fast shutdown.
		variants: []variant{{signal: "QUIT"}, {signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			conf := write(filepath.Join(dir, "nginx.conf"), realservers.NginxConf(dir, port, webRoot(dir)))
			return setup{command: []string{"nginx", "-c", conf, "-e", filepath.Join(dir, "error.log")}, listen: tcp(port), ready: "listen"}
		},
		load: loadHTTP("/index.html"),
	},
	{
		name: "caddy", tool: "caddy", packages: []string{"caddy"}, versionArgs: []string{"version"},
		// TERM and INT are graceful; QUIT is immediate.
		variants: []variant{{signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			return setup{command: []string{"caddy", "file-server", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--root", webRoot(dir)},
				listen: tcp(port), ready: "listen"}
		},
		load: loadHTTP("/index.html"),
	},
	{
		name: "lighttpd", tool: "lighttpd", packages: []string{"lighttpd"}, versionArgs: []string{"-v"},
		// INT: graceful shutdown; TERM: immediate.
		variants: []variant{{signal: "INT"}, {signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			conf := write(filepath.Join(dir, "lighttpd.conf"), realservers.LighttpdConf(webRoot(dir), port, filepath.Join(dir, "error.log")))
			return setup{command: []string{"lighttpd", "-D", "-f", conf}, listen: tcp(port), ready: "listen"}
		},
		load: loadHTTP("/index.html"),
	},
	{
		name: "uwsgi", tool: "uwsgi", packages: []string{"uwsgi-core", "uwsgi-plugin-python3"}, versionArgs: []string{"--version"},
		// uWSGI 2.0: TERM reloads brutally, INT and QUIT kill at once;
		// only the gracefully_kill_them_all hook stops gracefully.
		variants: []variant{
			{signal: "TERM", change: "hook"},
			{signal: "TERM", change: "--die-on-term"},
			{signal: "INT"},
			{signal: "TERM"},
		},
		setup: func(dir string, port int, v variant) setup {
			app := write(filepath.Join(dir, "app.py"), realservers.WSGIApp)
			cmd := []string{"uwsgi", "--plugin", "python3", "--http-socket", "127.0.0.1:" + strconv.Itoa(port),
				"--wsgi-file", app, "--callable", "app", "--master", "--processes", "2", "--disable-logging", "--need-app"}
			switch v.change {
			case "hook":
				cmd = append(cmd, "--hook-master-start", "unix_signal:15 gracefully_kill_them_all")
			case "--die-on-term":
				cmd = append(cmd, "--die-on-term")
			}
			return setup{command: cmd, listen: tcp(port), ready: "listen"}
		},
		load: loadHTTP("/"),
	},
	{
		name: "gunicorn", tool: "gunicorn", packages: []string{"gunicorn"}, versionArgs: []string{"--version"},
		// TERM: graceful; INT and QUIT: quick.
		variants: []variant{{signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			write(filepath.Join(dir, "app.py"), realservers.WSGIApp)
			return setup{command: []string{"gunicorn", "--chdir", dir, "-b", "127.0.0.1:" + strconv.Itoa(port), "-w", "2", "app:app"},
				listen: tcp(port), ready: "listen"}
		},
		load: loadHTTP("/"),
	},
	{
		name: "unbound", tool: "unbound", packages: []string{"unbound"}, versionArgs: []string{"-V"},
		variants: []variant{{signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			conf := write(filepath.Join(dir, "unbound.conf"), realservers.UnboundConf("127.0.0.1", port, dir))
			return setup{command: []string{"unbound", "-d", "-c", conf}, listen: udpTCP(port), ready: "notify"}
		},
		load: loadDNS,
	},
	{
		name: "memcached", tool: "memcached", packages: []string{"memcached"}, versionArgs: []string{"-V"},
		// USR1: its "graceful stop" (1.6), which does not drain the connections
		// it holds either; TERM and INT: its normal stop.
		variants: []variant{{signal: "USR1"}, {signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			return setup{command: []string{"memcached", "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-u", "root", "-t", "2"},
				listen: tcp(port), ready: "listen"}
		},
		load: loadMemcache,
	},
	{
		name: "php", tool: "php", packages: []string{"php-cli"}, versionArgs: []string{"-v"},
		variants: []variant{{signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			return setup{command: []string{"php", "-S", "127.0.0.1:" + strconv.Itoa(port), "-t", webRoot(dir)}, listen: tcp(port), ready: "listen"}
		},
		load: loadHTTP("/index.html"),
	},
	{
		name: "node", tool: "node", packages: []string{"nodejs"}, versionArgs: []string{"--version"},
		variants: []variant{{signal: "TERM", change: "server.close() on TERM"}, {signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			js, name := realservers.NodeServer, "server.js"
			if v.change != "" {
				js, name = realservers.NodeGracefulServer, "graceful.js"
			}
			return setup{command: []string{"node", write(filepath.Join(dir, name), js), strconv.Itoa(port)}, listen: tcp(port), ready: "listen"}
		},
		load: loadHTTP("/"),
	},
	{
		name: "busybox-httpd", tool: "busybox", packages: []string{"busybox"}, versionArgs: nil,
		variants: []variant{{signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			return setup{command: []string{"busybox", "httpd", "-f", "-p", "127.0.0.1:" + strconv.Itoa(port), "-h", webRoot(dir)},
				listen: tcp(port), ready: "listen"}
		},
		load: loadHTTP("/index.html"),
	},
	{
		name: "dnsmasq", tool: "dnsmasq", packages: []string{"dnsmasq-base"}, versionArgs: []string{"--version"},
		variants: []variant{{signal: "TERM"}},
		setup: func(dir string, port int, v variant) setup {
			return setup{command: []string{"dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
				"--listen-address=127.0.0.1", "--port=" + strconv.Itoa(port), "--address=/zedr.test/192.0.2.1",
				"--user=root", "--group=root", "--pid-file="}, listen: udpTCP(port), ready: "listen"}
		},
		load: loadDNS,
	},
}

// ensure installs s from Debian if it is missing and this is root, and
// says why not otherwise ("" once it is there).
func ensure(s server) string {
	if _, err := exec.LookPath(s.tool); err == nil {
		return ""
	}
	if os.Geteuid() != 0 {
		return fmt.Sprintf("%s not installed (apt-get install %s as root)", s.tool, strings.Join(s.packages, " "))
	}
	restore, err := denyServiceStarts()
	if err != nil {
		return err.Error()
	}
	defer restore()
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"}, s.packages...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("apt-get install %s failed: %v", strings.Join(s.packages, " "), err)
	}
	if _, err := exec.LookPath(s.tool); err != nil {
		return fmt.Sprintf("%s still missing after apt-get install %s", s.tool, strings.Join(s.packages, " "))
	}
	return ""
}

// denyServiceStarts makes sure /usr/sbin/policy-rc.d forbids starting
// services (exit 101) while packages install, so that no system memcached,
// unbound or lighttpd is left running; restore puts back what was there.
func denyServiceStarts() (restore func(), err error) {
	const policy = "/usr/sbin/policy-rc.d"
	if err := exec.Command(policy, "memcached", "start").Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 101 {
			return func() {}, nil // already forbids
		}
	}
	saved := ""
	if _, err := os.Lstat(policy); err == nil {
		saved = policy + ".zedr-servers"
		if err := os.Rename(policy, saved); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(policy, []byte("#!/bin/sh\n# created by zedr-run's scripts/servers; removed when it ends\nexit 101\n"), 0o755); err != nil {
		return nil, err
	}
	return func() {
		os.Remove(policy)
		if saved != "" {
			os.Rename(saved, policy)
		}
	}, nil
}
