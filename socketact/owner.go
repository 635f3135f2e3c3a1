package socketact

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
)

// lookupOwner resolves USER[:GROUP] (names or numeric ids) to the uid and gid
// for chown; -1 leaves one unchanged.
func lookupOwner(owner string) (uid, gid int, err error) {
	userName, groupName, _ := strings.Cut(owner, ":")
	uid, gid = -1, -1
	if userName != "" {
		id := userName
		if u, err := user.Lookup(userName); err == nil {
			id = u.Uid
		} else if _, nerr := strconv.Atoi(userName); nerr != nil {
			if errors.As(err, new(user.UnknownUserError)) {
				return 0, 0, fmt.Errorf("user %q: no such user", userName)
			}
			return 0, 0, fmt.Errorf("user %q: %w", userName, err)
		}
		if uid, err = strconv.Atoi(id); err != nil {
			return 0, 0, fmt.Errorf("user %q: uid %q: %w", userName, id, err)
		}
	}
	if groupName != "" {
		id := groupName
		if g, err := user.LookupGroup(groupName); err == nil {
			id = g.Gid
		} else if _, nerr := strconv.Atoi(groupName); nerr != nil {
			if errors.As(err, new(user.UnknownGroupError)) {
				return 0, 0, fmt.Errorf("group %q: no such group", groupName)
			}
			return 0, 0, fmt.Errorf("group %q: %w", groupName, err)
		}
		if gid, err = strconv.Atoi(id); err != nil {
			return 0, 0, fmt.Errorf("group %q: gid %q: %w", groupName, id, err)
		}
	}
	return uid, gid, nil
}
