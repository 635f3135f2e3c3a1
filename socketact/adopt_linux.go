package socketact

import (
	"fmt"
	"os"
)

// Adopt describes a socket that is already open as f, such as one handed
// across `zedr-run reexec`, under spec. owned says zedr-run created its unix
// socket file, which Close then removes.
func Adopt(spec Spec, f *os.File, inherited, owned bool) (*Socket, error) {
	addr, err := sockAddr(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("adopt %s (fd %d): %w", spec, f.Fd(), err)
	}
	s := &Socket{Spec: spec, File: f, Inherited: inherited, addr: addr}
	if owned && spec.isUnixPath() {
		s.created, _ = os.Lstat(spec.Address)
	}
	return s, nil
}
