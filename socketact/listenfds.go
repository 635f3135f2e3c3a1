package socketact

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment variables of sd_listen_fds(3) and sd_notify(3).
const (
	envListenFDs     = "LISTEN_FDS"
	envListenPID     = "LISTEN_PID"
	envListenFDNames = "LISTEN_FDNAMES"
	envNotifySocket  = "NOTIFY_SOCKET"
)

// unknownFDName is systemd's name for an fd that LISTEN_FDNAMES does not name.
const unknownFDName = "unknown"

// parseListenEnv reads the LISTEN_* variables as sd_listen_fds_with_names(3)
// does. It returns n == 0 when they are absent or meant for another process
// (LISTEN_PID is not pid). names has n entries; an unnamed fd is "unknown".
func parseListenEnv(getenv func(string) string, pid int) (n int, names []string, err error) {
	pidStr := getenv(envListenPID)
	if pidStr == "" {
		return 0, nil, nil
	}
	p, err := strconv.Atoi(pidStr)
	if err != nil || p <= 0 {
		return 0, nil, fmt.Errorf("%s=%q: not a pid", envListenPID, pidStr)
	}
	if p != pid {
		return 0, nil, nil
	}
	fdsStr := getenv(envListenFDs)
	if fdsStr == "" {
		return 0, nil, nil
	}
	n, err = strconv.Atoi(fdsStr)
	if err != nil || n < 0 || n > maxListenFDs {
		return 0, nil, fmt.Errorf("%s=%q: not a number 0-%d", envListenFDs, fdsStr, maxListenFDs)
	}
	names = make([]string, n)
	if s, ok := lookupEnv(getenv, envListenFDNames); ok && n > 0 {
		given := strings.Split(s, ":")
		if len(given) != n {
			return 0, nil, fmt.Errorf("%s has %d names for %s=%d", envListenFDNames, len(given), envListenFDs, n)
		}
		copy(names, given)
	}
	for i := range names {
		if names[i] == "" {
			names[i] = unknownFDName
		}
	}
	return n, names, nil
}

// maxListenFDs bounds LISTEN_FDS far above any real use, so a corrupt value
// cannot make us walk millions of fds.
const maxListenFDs = 1 << 16

func lookupEnv(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}
