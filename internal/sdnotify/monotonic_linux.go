package sdnotify

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// MonotonicUsec returns the "MONOTONIC_USEC=N" line that must go with
// RELOADING=1 (sd_notify(3)): CLOCK_MONOTONIC now, in microseconds.
func MonotonicUsec() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return "MONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}
