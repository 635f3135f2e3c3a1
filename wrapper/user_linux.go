package wrapper

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"zedr-run/internal/sdnotify"
)

// ErrUnknownUser is a --user or --group that is not in the user or group
// database.
var ErrUnknownUser = errors.New("no such user or group")

// LookupUser resolves USER[:GROUP] and GROUP (each a name or
// a number) into the credential the children run with, as login and
// initgroups(3) would set it up: the user's uid, the primary gid (GROUP if
// given, else the user's), and the user's supplementary groups from the
// group database plus the primary gid, never zedr-run's own groups. env
// holds HOME, USER and LOGNAME for the user.
func LookupUser(spec, group string) (cred *syscall.Credential, env []string, err error) {
	name, g, hasGroup := strings.Cut(spec, ":")
	if hasGroup {
		if g == "" {
			return nil, nil, fmt.Errorf("user %q: want USER or USER:GROUP", spec)
		}
		if group != "" && group != g {
			return nil, nil, fmt.Errorf("user %q and group %q name two different groups", spec, group)
		}
		group = g
	}
	if name == "" {
		return nil, nil, fmt.Errorf("user %q: want USER or USER:GROUP", spec)
	}
	u, err := lookupUser(name)
	if err != nil {
		return nil, nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("user %s: uid %q is not a number", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("user %s: gid %q is not a number", name, u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, nil, fmt.Errorf("groups of user %s: %w", name, err)
	}
	var groups []uint32
	for _, id := range ids {
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			continue
		}
		// With GROUP given, the user's own primary group from the user
		// database is not theirs unless the group database lists them.
		if group != "" && n == gid && !memberOf(u.Username, id) {
			continue
		}
		groups = append(groups, uint32(n))
	}
	if group != "" {
		gr, err := lookupGroup(group)
		if err != nil {
			return nil, nil, err
		}
		if gid, err = strconv.ParseUint(gr.Gid, 10, 32); err != nil {
			return nil, nil, fmt.Errorf("group %s: gid %q is not a number", group, gr.Gid)
		}
	}
	if !slices.Contains(groups, uint32(gid)) {
		groups = append(groups, uint32(gid))
	}
	slices.Sort(groups)
	cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}
	home := u.HomeDir
	if home == "" {
		home = "/"
	}
	return cred, []string{"HOME=" + home, "USER=" + u.Username, "LOGNAME=" + u.Username}, nil
}

func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("user %q: %w (see getent passwd)", name, ErrUnknownUser)
	}
	return u, nil
}

func lookupGroup(name string) (*user.Group, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			g, err = user.LookupGroupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("group %q: %w (see getent group)", name, ErrUnknownUser)
	}
	return g, nil
}

// memberOf reports whether the group database lists user in group gid.
func memberOf(username, gid string) bool {
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 4 && f[2] == gid && slices.Contains(strings.Split(f[3], ","), username) {
			return true
		}
	}
	return false
}

// withUserEnv replaces the variables of env that userEnv sets.
func withUserEnv(env, userEnv []string) []string {
	if len(userEnv) == 0 {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(userEnv, func(u string) bool { return strings.HasPrefix(u, k+"=") }) {
			out = append(out, kv)
		}
	}
	return append(out, userEnv...)
}

// listenNotifyFor creates the children's NOTIFY_SOCKET. When they run as
// another user, that user may send to it: the private directory and the
// socket file are handed to it, and its uid's messages are accepted.
func listenNotifyFor(dir string, cred *syscall.Credential) (*sdnotify.Socket, error) {
	if cred == nil {
		return sdnotify.Listen(dir)
	}
	n, err := sdnotify.Listen(dir, int(cred.Uid))
	if err != nil {
		return nil, err
	}
	if err := n.HandTo(int(cred.Uid), int(cred.Gid)); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}
