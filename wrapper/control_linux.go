package wrapper

import "zedr-run/wrapper/control"

// The Supervisor is the control socket's control.Handler (requests.go).
var _ control.Handler = (*Supervisor)(nil)

// statusRequest asks the loop for a snapshot.
type statusRequest struct{ reply chan<- control.Status }

// stopRequest asks the loop to stop everything, as SIGTERM does.
type stopRequest struct{ by string }
