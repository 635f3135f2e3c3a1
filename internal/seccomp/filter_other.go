//go:build !linux

package seccomp

import "errors"

// ErrUnsupported is wrapped by Check's error when this system cannot
// intercept calls at all.
var ErrUnsupported = errors.New("seccomp user notification is not available: Linux only")

// Check says why calls cannot be intercepted here: always, off Linux.
func Check() error { return ErrUnsupported }

// Install fails off Linux.
func Install(nrs ...uint32) (int, error) { return -1, ErrUnsupported }
