package realservers

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IndexHTML is the page WebRoot serves.
const IndexHTML = "hello from the web root\n"

// WebRoot writes dir/www/index.html (IndexHTML) and returns dir/www.
func WebRoot(dir string) (string, error) {
	root := filepath.Join(dir, "www")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	return root, os.WriteFile(filepath.Join(root, "index.html"), []byte(IndexHTML), 0o644)
}

// NginxConf is a configuration for nginx in the foreground (daemon off)
// with a master and two workers, its pid file, error log and temporary
// paths in dir, serving root on 127.0.0.1:port. listenOpts are added to the
// listen directive ("reuseport").
func NginxConf(dir string, port int, root string, listenOpts ...string) string {
	return fmt.Sprintf(`daemon off;
master_process on;
user root;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d%[4]s;
		root %[3]s;
	}
}
`, dir, port, root, strings.Join(append([]string{""}, listenOpts...), " "))
}

// LighttpdConf is a configuration for lighttpd serving root on
// 127.0.0.1:port, logging errors to errorLog.
func LighttpdConf(root string, port int, errorLog string) string {
	return fmt.Sprintf(`server.document-root = %q
server.bind = "127.0.0.1"
server.port = %d
server.errorlog = %q
index-file.names = ("index.html")
`, root, port, errorLog)
}

// UnboundConf is a configuration for unbound in the foreground on host@port
// (UDP and TCP), with dir as its directory, that says READY=1 itself
// (use-systemd) and answers www.zedr.test A with 192.0.2.1 (what DNSQuery
// asks).
func UnboundConf(host string, port int, dir string) string {
	return fmt.Sprintf(`server:
	use-systemd: yes
	do-daemonize: no
	interface: %s@%d
	do-ip6: no
	num-threads: 1
	so-reuseport: no
	chroot: ""
	username: ""
	directory: %q
	pidfile: ""
	use-syslog: no
	logfile: ""
	verbosity: 0
	access-control: 127.0.0.0/8 allow
	local-zone: "zedr.test." static
	local-data: "www.zedr.test. A 192.0.2.1"
remote-control:
	control-enable: no
`, host, port, dir)
}

// WSGIApp is a WSGI application, callable "app", that answers every request
// with 200 and a line of text.
const WSGIApp = `def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from wsgi\n"]
`

// NodeServer is a node program serving HTTP on 127.0.0.1 at the port given
// as its first argument. Node's http server stops at once on TERM.
const NodeServer = `const http = require("http");
const server = http.createServer((req, res) => res.end("hello from node\n"));
server.listen(Number(process.argv[2]), "127.0.0.1");
`

// NodeGracefulServer is NodeServer closing its server on TERM, so that it
// finishes the requests it accepted before it exits.
const NodeGracefulServer = NodeServer + `process.on("SIGTERM", () => server.close());
`
