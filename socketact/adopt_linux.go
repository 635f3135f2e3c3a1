package socketact

import (
	"fmt"
	"os"

	"zedr-run/internal/sockfile"
)

// Adopt describes a socket that is already open as f, such as one handed
// across `zedr-run reexec`, under spec. owned says zedr-run created its unix
// socket file, which Close then removes, provided the file at the path is
// still the one f is bound to (sockfile.Bound); if it is not, the Socket
// owns no file.
func Adopt(spec Spec, f *os.File, inherited, owned bool) (*Socket, error) {
	addr, err := sockAddr(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("adopt %s (fd %d): %w", spec, f.Fd(), err)
	}
	s := &Socket{Spec: spec, File: f, Inherited: inherited, addr: addr}
	if owned && spec.isUnixPath() {
		if pf, st, err := sockfile.Bound(int(f.Fd()), spec.Address); err == nil {
			pf.Close()
			id := sockfile.Of(&st)
			s.created = &id
		}
	}
	return s, nil
}
