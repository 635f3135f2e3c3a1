package socketact

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Spec is one parsed --listen SPEC: PROTO ":" ADDRESS [ "," OPTION ]*.
// The zero value of each option means its default.
type Spec struct {
	Network   string      // tcp tcp4 tcp6 udp udp4 udp6 unix unixgram unixpacket
	Address   string      // "host:port" (host may be empty, an IP, [v6], or a hostname), a path, or "@abstract"
	Name      string      // name= option; "" means the default (see FDName)
	Backlog   int         // backlog= option; 0 means DefaultBacklog
	ReusePort bool        // reuseport option
	Mode      os.FileMode // mode= octal, unix paths only; 0 means unset
	Owner     string      // owner=USER[:GROUP], unix paths only
}

// DefaultBacklog is the listen(2) backlog when a Spec has none. It is Linux's
// default net.core.somaxconn since 5.4. Connections wait in this queue while
// no child accepts (a crash, a slow start), so a deep queue is what keeps a
// restart from refusing clients. The kernel silently caps any backlog at
// net.core.somaxconn; raise that sysctl and backlog= together for more.
const DefaultBacklog = 4096

// Limits of the protocol and the kernel that the parser enforces.
const (
	maxFDName   = 255 // FDNAME_MAX in systemd
	maxUnixPath = 107 // sizeof(sockaddr_un.sun_path) - 1: room for the NUL
	maxMode     = 07777
)

// Protocols lists the valid PROTO values of a Spec, in the order help texts
// show them.
func Protocols() []string {
	return []string{"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix", "unixgram", "unixpacket"}
}

// SpecError reports a socket spec that ParseSpec or CheckSpecs rejected.
type SpecError struct {
	Spec   string // the SPEC as given
	Reason string // what is wrong with it
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("bad socket spec %q: %s", e.Spec, e.Reason)
}

const wantSpec = "want PROTO:ADDRESS such as tcp::8080 or tcp:127.0.0.1:8080"

// ParseSpec parses a socket spec, PROTO:ADDRESS[,OPTION]... The error is a
// *SpecError.
func ParseSpec(str string) (Spec, error) {
	s, reason := parseSpec(str)
	if reason != "" {
		return Spec{}, &SpecError{Spec: str, Reason: reason}
	}
	return s, nil
}

func parseSpec(str string) (Spec, string) {
	parts := strings.Split(str, ",")
	proto, addr, ok := strings.Cut(parts[0], ":")
	if !ok {
		if isProto(proto) {
			return Spec{}, "missing address: " + wantSpec
		}
		return Spec{}, wantSpec
	}
	if !isProto(proto) {
		return Spec{}, fmt.Sprintf("unknown protocol %q: want one of %s", proto, strings.Join(Protocols(), ", "))
	}
	s := Spec{Network: proto}
	var reason string
	if s.isUnix() {
		s.Address, reason = parseUnixAddress(addr)
	} else {
		s.Address, reason = parseInetAddress(proto, addr)
	}
	if reason != "" {
		return Spec{}, reason
	}
	seen := make(map[string]bool)
	for _, opt := range parts[1:] {
		key, val, hasVal := strings.Cut(opt, "=")
		if opt == "" {
			return Spec{}, "empty option (a stray ',')"
		}
		if seen[key] {
			return Spec{}, fmt.Sprintf("duplicate option %q", key)
		}
		seen[key] = true
		if reason := s.setOption(key, val, hasVal); reason != "" {
			return Spec{}, reason
		}
	}
	return s, ""
}

func isProto(p string) bool {
	for _, q := range Protocols() {
		if p == q {
			return true
		}
	}
	return false
}

func parseUnixAddress(addr string) (string, string) {
	switch {
	case addr == "":
		return "", "empty unix path"
	case addr == "@":
		return "", "empty abstract socket name after '@'"
	case strings.IndexByte(addr, 0) >= 0:
		return "", "unix path contains a NUL byte"
	case len(addr) > maxUnixPath:
		return "", fmt.Sprintf("unix path is %d bytes, at most %d fit in sockaddr_un", len(addr), maxUnixPath)
	}
	return addr, ""
}

func parseInetAddress(proto, addr string) (string, string) {
	if !strings.Contains(addr, ":") {
		return "", wantSpec
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "too many colons") {
			return "", "IPv6 address must be in brackets, such as " + proto + ":[::1]:8080"
		}
		return "", fmt.Sprintf("bad address %q: want HOST:PORT, [IPv6]:PORT or :PORT", addr)
	}
	if port == "" {
		return "", "missing port: want a number 0-65535 (0: the kernel picks one)"
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Sprintf("bad port %q: want a number 0-65535 (0: the kernel picks one)", port)
	}
	host, reason := parseHost(proto, host, strings.HasPrefix(addr, "["))
	if reason != "" {
		return "", reason
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), ""
}

// parseHost checks a host and returns its canonical form: IP addresses as
// netip prints them, hostnames as given.
func parseHost(proto, host string, bracketed bool) (string, string) {
	if host == "" {
		if bracketed {
			return "", "empty brackets: want [IPv6]:PORT or :PORT"
		}
		return "", ""
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if bracketed || strings.Contains(host, ":") {
			return "", fmt.Sprintf("bad IPv6 address %q", host)
		}
		if strings.Trim(host, "0123456789.") == "" {
			return "", fmt.Sprintf("bad IPv4 address %q", host)
		}
		if reason := checkHostname(host); reason != "" {
			return "", reason
		}
		return host, ""
	}
	switch {
	case bracketed && !ip.Is6():
		return "", fmt.Sprintf("brackets are for IPv6 addresses, not %s", ip)
	case strings.HasSuffix(proto, "4") && !ip.Is4():
		return "", fmt.Sprintf("%s needs an IPv4 address, not %s", proto, ip)
	case strings.HasSuffix(proto, "6") && !ip.Is6():
		return "", fmt.Sprintf("%s needs an IPv6 address, not %s", proto, ip)
	}
	return ip.String(), ""
}

func checkHostname(host string) string {
	if len(host) > 253 {
		return fmt.Sprintf("hostname is %d bytes, at most 253", len(host))
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Sprintf("bad hostname %q", host)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("bad hostname %q: %q is not a letter, digit, '-' or '_'", host, c)
			}
		}
	}
	return ""
}

func (s *Spec) setOption(key, val string, hasVal bool) string {
	if key == "reuseport" {
		if hasVal {
			return "reuseport takes no value"
		}
		if s.isUnix() {
			return "reuseport applies only to tcp and udp"
		}
		s.ReusePort = true
		return ""
	}
	if !hasVal || val == "" {
		switch key {
		case "name", "backlog", "mode", "owner":
			return fmt.Sprintf("option %s needs a value: %s=...", key, key)
		}
	}
	switch key {
	case "name":
		if reason := FDNameProblem(val); reason != "" {
			return reason
		}
		s.Name = val
	case "backlog":
		n, err := strconv.ParseInt(val, 10, 32)
		if err != nil || n < 1 {
			return fmt.Sprintf("bad backlog %q: want a number 1-2147483647", val)
		}
		if !s.Stream() {
			return "backlog applies only to stream sockets (tcp, unix, unixpacket), not " + s.Network
		}
		s.Backlog = int(n)
	case "mode":
		if !s.isUnixPath() {
			return "mode applies only to unix socket paths"
		}
		n, err := strconv.ParseUint(val, 8, 32)
		if err != nil || n > maxMode || n == 0 {
			return fmt.Sprintf("bad mode %q: want octal permissions 1-07777 such as 0660", val)
		}
		s.Mode = fileMode(uint32(n))
	case "owner":
		if !s.isUnixPath() {
			return "owner applies only to unix socket paths"
		}
		user, group, hasGroup := strings.Cut(val, ":")
		if strings.Contains(group, ":") || (hasGroup && group == "") || (user == "" && !hasGroup) {
			return fmt.Sprintf("bad owner %q: want USER, USER:GROUP or :GROUP", val)
		}
		s.Owner = val
	default:
		return fmt.Sprintf("unknown option %q: want name=, backlog=, reuseport, mode= or owner=", key)
	}
	return ""
}

// FDNameProblem says what is wrong with name as a LISTEN_FDNAMES entry or
// FDNAME= (systemd's fdname_is_valid: 1 to 255 printable ASCII characters
// without ':'), or "" when nothing is. The fd store, socketact's and
// zedr-run's, checks names with it too.
func FDNameProblem(name string) string {
	if name == "" {
		return "name is empty"
	}
	if len(name) > maxFDName {
		return fmt.Sprintf("name is %d bytes, at most %d", len(name), maxFDName)
	}
	for _, c := range []byte(name) {
		if c == ':' {
			return "name may not contain ':' (it separates LISTEN_FDNAMES)"
		}
		if c < ' ' || c > '~' {
			return "name must be printable ASCII"
		}
	}
	return ""
}

// fileMode converts chmod(2) bits to an os.FileMode.
func fileMode(bits uint32) os.FileMode {
	m := os.FileMode(bits & 0o777)
	if bits&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if bits&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if bits&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// modeBits converts an os.FileMode to chmod(2) bits.
func modeBits(m os.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
}

// String returns the canonical form of s: the protocol, the address and the
// options that differ from their defaults, in the order name, backlog,
// reuseport, mode, owner.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Network)
	b.WriteByte(':')
	b.WriteString(s.Address)
	if s.Name != "" {
		b.WriteString(",name=" + s.Name)
	}
	if s.Backlog != 0 {
		b.WriteString(",backlog=" + strconv.Itoa(s.Backlog))
	}
	if s.ReusePort {
		b.WriteString(",reuseport")
	}
	if s.Mode != 0 {
		fmt.Fprintf(&b, ",mode=0%03o", modeBits(s.Mode))
	}
	if s.Owner != "" {
		b.WriteString(",owner=" + s.Owner)
	}
	return b.String()
}

// FDName returns the socket's LISTEN_FDNAMES entry: Name when set, otherwise
// PROTO:ADDRESS made valid for systemd (at most 255 bytes of printable ASCII
// without ':'): every ':' and every byte outside printable ASCII becomes '-',
// runs of '-' shrink to one and a trailing '-' goes. So tcp::8080 is
// "tcp-8080", tcp:127.0.0.1:8080 is "tcp-127.0.0.1-8080", tcp:[::1]:8080 is
// "tcp-[-1]-8080" and unix:/run/app.sock is "unix-/run/app.sock".
// Names need not be unique.
func (s Spec) FDName() string {
	if s.Name != "" {
		return s.Name
	}
	src := s.Network + ":" + s.Address
	b := make([]byte, 0, len(src))
	for _, c := range []byte(src) {
		if c == ':' || c < ' ' || c > '~' {
			c = '-'
		}
		if c == '-' && len(b) > 0 && b[len(b)-1] == '-' {
			continue
		}
		b = append(b, c)
	}
	if len(b) > maxFDName {
		b = b[:maxFDName]
	}
	name := strings.TrimRight(string(b), "-")
	if name == "" {
		return "unknown" // systemd's name for an unnamed fd
	}
	return name
}

// Stream reports whether s is a stream socket (tcp*, unix, unixpacket), on
// which listen(2) is called, rather than a datagram socket (udp*, unixgram).
func (s Spec) Stream() bool {
	switch s.Network {
	case "tcp", "tcp4", "tcp6", "unix", "unixpacket":
		return true
	}
	return false
}

func (s Spec) isUnix() bool {
	return strings.HasPrefix(s.Network, "unix")
}

// isUnixPath reports whether s names a unix socket in the file system (not
// an abstract one).
func (s Spec) isUnixPath() bool {
	return s.isUnix() && !strings.HasPrefix(s.Address, "@")
}
