package socketact

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ListenFdsStart is the first passed fd: SD_LISTEN_FDS_START.
const ListenFdsStart = 3 // SD_LISTEN_FDS_START

// Compatibility protocols for servers that predate LISTEN_FDS.
const (
	CompatEinhorn       = "einhorn"        // EINHORN_FD_COUNT, EINHORN_FD_<i>, EINHORN_FDS
	CompatServerStarter = "server-starter" // SERVER_STARTER_PORT (Perl's Server::Starter)
	CompatNginx         = "nginx"          // NGINX, nginx's own binary-upgrade inheritance
)

// CompatNames lists the names CheckCompat accepts.
func CompatNames() []string {
	return []string{CompatEinhorn, CompatServerStarter, CompatNginx}
}

// CheckCompat returns an error for a --compat name that ChildEnv does not
// know, listing the valid ones.
func CheckCompat(name string) error {
	for _, c := range CompatNames() {
		if name == c {
			return nil
		}
	}
	return fmt.Errorf("unknown compat name %q: want one of %s", name, strings.Join(CompatNames(), ", "))
}

// ChildEnv returns the variables that hand socks to a child as fds 3, 4, ...
// in order: "LISTEN_FDS=N" and "LISTEN_FDNAMES=a:b" (each socket's
// Spec.FDName), but not LISTEN_PID, which only the child's own process can
// know (the shim sets it). For each compat name it adds:
//
//	einhorn          EINHORN_FD_COUNT=N, EINHORN_FD_0=3, EINHORN_FD_1=4, ..., EINHORN_FDS="3 4"
//	server-starter   SERVER_STARTER_PORT="127.0.0.1:8080=3;9090=4;/run/app.sock=5"
//	                 (Server::Starter's format: host:port=fd, just port=fd when the host is
//	                 all addresses, path=fd for unix sockets, joined by ';')
//	nginx            NGINX="3;4;"
//
// It returns nil for no sockets and ignores names that CheckCompat rejects.
func ChildEnv(socks []*Socket, compat []string) []string {
	return ChildEnvStored(socks, nil, compat)
}

// ChildEnvStored is ChildEnv for a child that also gets the fd store's
// descriptors, named stored, after the sockets (fds 3+len(socks), ...):
// LISTEN_FDS counts them and LISTEN_FDNAMES names them, as systemd hands
// its fd store on. The compat variables list the sockets only. It returns
// nil when there is nothing to hand over.
func ChildEnvStored(socks []*Socket, stored []string, compat []string) []string {
	n := len(socks)
	if n+len(stored) == 0 {
		return nil
	}
	fds := make([]string, n)
	names := make([]string, n, n+len(stored))
	for i, s := range socks {
		fds[i] = strconv.Itoa(ListenFdsStart + i)
		names[i] = s.Spec.FDName()
	}
	names = append(names, stored...)
	env := []string{
		envListenFDs + "=" + strconv.Itoa(len(names)),
		envListenFDNames + "=" + strings.Join(names, ":"),
	}
	if n == 0 {
		return env
	}
	for _, c := range compat {
		switch c {
		case CompatEinhorn:
			env = append(env, "EINHORN_FD_COUNT="+strconv.Itoa(n))
			for i, fd := range fds {
				env = append(env, "EINHORN_FD_"+strconv.Itoa(i)+"="+fd)
			}
			env = append(env, "EINHORN_FDS="+strings.Join(fds, " "))
		case CompatServerStarter:
			ports := make([]string, n)
			for i, s := range socks {
				ports[i] = serverStarterAddr(s.Addr()) + "=" + fds[i]
			}
			env = append(env, "SERVER_STARTER_PORT="+strings.Join(ports, ";"))
		case CompatNginx:
			env = append(env, "NGINX="+strings.Join(fds, ";")+";")
		}
	}
	return env
}

// serverStarterAddr writes a bound address as Server::Starter's --port
// would: the port alone for all addresses, host:port otherwise, the path for
// a unix socket.
func serverStarterAddr(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return addr // a unix path or @name
	}
	if ap.Addr().IsUnspecified() {
		return strconv.Itoa(int(ap.Port()))
	}
	return ap.String()
}

// StripEnv returns env without the variables that ChildEnv, the shim and the
// supervisor set: LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, NOTIFY_SOCKET and
// the compat variables (EINHORN_FD_COUNT, EINHORN_FDS, EINHORN_FD_<i>,
// SERVER_STARTER_PORT, NGINX). env is not modified.
func StripEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		key, _, _ := strings.Cut(kv, "=")
		if !strippedVar(key) {
			out = append(out, kv)
		}
	}
	return out
}

func strippedVar(key string) bool {
	switch key {
	case envListenFDs, envListenPID, envListenFDNames, envNotifySocket,
		"EINHORN_FD_COUNT", "EINHORN_FDS", "SERVER_STARTER_PORT", "NGINX":
		return true
	}
	if i, ok := strings.CutPrefix(key, "EINHORN_FD_"); ok && i != "" {
		_, err := strconv.Atoi(i)
		return err == nil
	}
	return false
}
