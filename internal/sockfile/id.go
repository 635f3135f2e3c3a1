package sockfile

import (
	"errors"
	"fmt"
)

// ID names one file: the device and inode of its stat(2).
type ID struct {
	Dev uint64
	Ino uint64
}

func (id ID) String() string { return fmt.Sprintf("dev=%d ino=%d", id.Dev, id.Ino) }

// ErrUnsupported is returned by every function on systems other than Linux.
var ErrUnsupported = errors.New("unix socket files are handled on linux only")

// ErrReplaced says the file at a socket's path is not the file that the
// socket is bound to: someone replaced it after bind.
var ErrReplaced = errors.New("the file at this path is not the socket zedr-run bound (it was replaced after bind); nothing was changed")
