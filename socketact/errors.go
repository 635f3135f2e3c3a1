package socketact

import (
	"errors"
	"fmt"
)

// ErrNotSocket is wrapped by the *OpenError of a unix socket whose path is
// taken by a file that is not a socket. That file is never removed.
var ErrNotSocket = errors.New("file exists and is not a socket")

// ErrUnsupported is returned by the socket functions on systems other than
// Linux.
var ErrUnsupported = errors.New("socket activation is only supported on linux")

// OpenError reports a socket that Open could not open. Unwrap returns Err,
// so errors.Is(err, syscall.EADDRINUSE) and errors.Is(err, fs.ErrNotExist)
// work.
type OpenError struct {
	Spec Spec
	Addr string // the address it tried: resolved IP and port, or the unix path; may be ""
	Op   string // resolve, socket, setsockopt, bind, chmod, chown or listen
	Err  error
}

// Error reads like "open tcp:localhost:8080: bind 127.0.0.1:8080: address
// already in use".
func (e *OpenError) Error() string {
	if e.Addr == "" {
		return fmt.Sprintf("open %s: %s: %v", e.Spec, e.Op, e.Err)
	}
	return fmt.Sprintf("open %s: %s %s: %v", e.Spec, e.Op, e.Addr, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }
