package wrapper

import (
	"net"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// outerNotify tells zedr-run's own service manager how the service is doing,
// when zedr-run runs as a Type=notify service (NOTIFY_SOCKET set for it):
// READY=1 once the first generation is ready, RELOADING=1 and READY=1
// around each restart, STATUS= lines for `systemctl status`, STOPPING=1.
// A zero outerNotify (no NOTIFY_SOCKET) sends nothing.
type outerNotify struct {
	addr string
	conn *net.UnixConn
}

// send sends the lines as one sd_notify message. Failures are not fatal:
// the service goes on whether or not its manager listens.
func (o *outerNotify) send(lines ...string) error {
	if o.addr == "" {
		return nil
	}
	msg := []byte(strings.Join(lines, "\n"))
	for attempt := 0; attempt < 2; attempt++ {
		if o.conn == nil {
			conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: o.addr, Net: "unixgram"})
			if err != nil {
				return err
			}
			o.conn = conn
		}
		if _, err := o.conn.Write(msg); err == nil {
			return nil
		}
		// The manager may have re-created its socket: dial again once.
		o.conn.Close()
		o.conn = nil
	}
	return nil
}

func (o *outerNotify) close() {
	if o.conn != nil {
		o.conn.Close()
	}
}

// monotonicUsec is MONOTONIC_USEC for RELOADING=1 (sd_notify(3)).
func monotonicUsec() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return "MONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10)
}
