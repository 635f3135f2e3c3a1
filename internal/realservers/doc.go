// Package realservers holds the recipes for running real servers (nginx,
// lighttpd, uWSGI, node, unbound, memcached) under zedr-run, shared by the
// end-to-end tests (internal/e2e) and the scripts/servers survey: their
// minimal configurations, written so that every path stays in one
// directory and every socket on loopback, and the loads for the servers that
// do not speak HTTP (memcached's text protocol, DNS over UDP). HTTP loads
// are internal/loadgen's.
//
// A configuration here names no binary and chooses no stop signal: that
// stays with the caller, who decides how the server runs.
package realservers
