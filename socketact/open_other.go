//go:build !linux

package socketact

import (
	"os"

	"zedr-run/internal/sockfile"
)

// Open returns ErrUnsupported: the socket code is Linux only.
func Open(s Spec) (*Socket, error) {
	return nil, &OpenError{Spec: s, Op: "socket", Err: ErrUnsupported}
}

// OpenAll returns ErrUnsupported: the socket code is Linux only.
func OpenAll(specs []Spec) ([]*Socket, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	_, err := Open(specs[0])
	return nil, err
}

// Inherited returns nil when not socket-activated, else ErrUnsupported.
func Inherited() ([]*os.File, []string, error) {
	return passedFDs()
}

func takeFDs(getenv func(string) string, pid int) ([]*os.File, []string, error) {
	n, _, err := parseListenEnv(getenv, pid)
	if err != nil || n == 0 {
		return nil, nil, err
	}
	return nil, nil, ErrUnsupported
}

func kindOf(f *os.File) (sockKind, error) { return sockOther, ErrUnsupported }

func removeCreated(path string, id sockfile.ID) error { return ErrUnsupported }
