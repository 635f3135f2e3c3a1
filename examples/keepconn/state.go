//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// stateFormat names the layout of the state memfd; a generation refuses a
// format it does not know rather than misreading it.
const stateFormat = "keepconn/1"

// savedState is what one generation leaves the next in the memfd: the
// counter, and for each connection passed (in the order passed) the bytes
// read from it and not answered.
type savedState struct {
	Format  string      `json:"format"`
	Counter int64       `json:"counter"`
	Conns   []savedConn `json:"conns,omitempty"`
}

type savedConn struct {
	Unread []byte `json:"unread,omitempty"` // base64 in JSON
}

func newStateFile() (*os.File, error) {
	fd, err := unix.MemfdCreate(stateName, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), stateName), nil
}

// readState reads the memfd; empty (the first generation) is the zero
// state.
func readState(f *os.File) (savedState, error) {
	var st savedState
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		return st, fmt.Errorf("read state: %w", err)
	}
	if len(data) == 0 {
		return st, nil
	}
	// The first JSON value: what follows it is the tail of a longer state
	// before, left by a writeState cut short (see there).
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
		return st, fmt.Errorf("read state: %w", err)
	}
	if st.Format != stateFormat {
		return st, fmt.Errorf("read state: format %q, want %q", st.Format, stateFormat)
	}
	return st, nil
}

// writeState replaces the memfd's content with st: it writes st over the
// old state, then cuts what is left of the old one. A process killed
// between the two leaves st followed by that rest, which readState reads as
// st; truncating first would leave an empty memfd, the zero state: the
// counter lost.
func writeState(f *os.File, st savedState) error {
	st.Format = stateFormat
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}
