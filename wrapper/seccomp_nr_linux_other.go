//go:build linux && !amd64

package wrapper

// sysUnlink: arm64 has only unlinkat; a number no call has.
const sysUnlink = 0xffffffff
