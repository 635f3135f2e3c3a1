package socketact

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
)

// CheckSpecs checks, before anything opens, what ParseSpec cannot see in
// one spec alone: two specs that would bind the same address (the second
// bind would fail with "address already in use"), and an owner= whose user
// or group does not exist. The error is a *SpecError naming the spec.
//
// Two specs bind the same address when they have the same transport (tcp,
// udp, or a unix type) and address once spelled alike: the IP version of
// an explicit IP needs no 4 or 6 in PROTO (tcp:127.0.0.1:80 is
// tcp4:127.0.0.1:80), and options (name=, backlog=, ...) do not count. An
// empty host of tcp or udp binds [::] dual-stack, which takes 0.0.0.0 too,
// so tcp::80 clashes with tcp4::80 and with tcp6::80, while tcp4::80 and
// tcp6::80 do not. Unix paths are compared cleaned and absolute, whatever
// the type. Port 0 never clashes (each gets a port of its own), nor do two
// specs that both have reuseport.
func CheckSpecs(specs []Spec) error {
	seen := map[string]Spec{}
	for _, s := range specs {
		if s.Owner != "" {
			if _, _, err := lookupOwner(s.Owner); err != nil {
				return &SpecError{Spec: s.String(), Reason: fmt.Sprintf("owner=%s: %v", s.Owner, err)}
			}
		}
		for _, k := range bindKeys(s) {
			if prev, ok := seen[k]; ok && !(prev.ReusePort && s.ReusePort) {
				return &SpecError{Spec: s.String(), Reason: fmt.Sprintf("duplicate of %s: both bind %s (give each address once, or reuseport to both)", prev, k)}
			}
			seen[k] = s
		}
	}
	return nil
}

// bindKeys names, in words, every address that s binds; none for port 0.
func bindKeys(s Spec) []string {
	if s.isUnixPath() {
		path, err := filepath.Abs(s.Address)
		if err != nil {
			path = filepath.Clean(s.Address)
		}
		return []string{"unix path " + path}
	}
	if s.isUnix() {
		return []string{s.Network + " abstract " + s.Address}
	}
	transport := "udp"
	if s.Stream() {
		transport = "tcp"
	}
	host, port, err := net.SplitHostPort(s.Address)
	if err != nil || port == "0" {
		return nil
	}
	key := func(host string) string { return transport + " " + net.JoinHostPort(host, port) }
	version := s.Network[len(s.Network)-1]
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "" && version == '4':
		return []string{key("0.0.0.0")}
	case host == "" && version == '6':
		return []string{key("::")}
	case host == "":
		return []string{key("::"), key("0.0.0.0")}
	case err != nil: // a hostname, resolved only at open
		return []string{key(strings.ToLower(host))}
	case ip == netip.IPv6Unspecified() && version != '6':
		return []string{key("::"), key("0.0.0.0")} // dual-stack, as for an empty host
	}
	return []string{key(ip.String())}
}
