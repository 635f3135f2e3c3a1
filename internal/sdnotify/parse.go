package sdnotify

import (
	"os"
	"strings"
)

// Message is one datagram received on a Socket, with its sender's
// credentials as the kernel reported them.
type Message struct {
	PID    int               // the sending process
	UID    int               // its user
	GID    int               // its group
	Fields map[string]string // READY=1 -> Fields["READY"] == "1"
	// FDs are the descriptors the sender attached (SCM_RIGHTS), when the
	// Socket accepts them (AcceptFDs): the receiver's to close.
	FDs []*os.File
	// FDsCut says the sender attached more descriptors than the Socket
	// accepts in one message: none of them was kept.
	FDsCut bool
	// Truncated says the datagram was longer than MaxMessage. As systemd
	// does with an overlong notification, none of it is kept: Fields is
	// empty and its descriptors were closed.
	Truncated bool
}

// Parse splits an sd_notify message into its KEY=VALUE lines. Lines with
// no "=" or an empty key are ignored; of a repeated key the last value
// wins. The value is everything after the first "=".
func Parse(msg string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "" {
			fields[k] = v
		}
	}
	return fields
}
