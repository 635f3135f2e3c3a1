package wrapper

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp user-notification ABI (linux/seccomp.h), which x/sys/unix
// only has the constants of.

// seccompData is struct seccomp_data.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// seccompNotif is struct seccomp_notif, filled by SECCOMP_IOCTL_NOTIF_RECV.
type seccompNotif struct {
	ID    uint64
	Pid   uint32 // the thread that made the call, in zedr-run's pid namespace
	Flags uint32
	Data  seccompData
}

// seccompNotifResp is struct seccomp_notif_resp, for SECCOMP_IOCTL_NOTIF_SEND.
type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// seccompNotifAddfd is struct seccomp_notif_addfd, for SECCOMP_IOCTL_NOTIF_ADDFD.
type seccompNotifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

func init() {
	// The ioctl numbers encode these sizes; a layout mistake would show here.
	if unsafe.Sizeof(seccompNotif{}) != 0x50 || unsafe.Sizeof(seccompNotifResp{}) != 0x18 || unsafe.Sizeof(seccompNotifAddfd{}) != 0x18 {
		panic("seccomp notification structs have the wrong size")
	}
}

func seccompIoctl(fd int, req uint, arg unsafe.Pointer) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
}

// notifRecv waits for the next notification. ENOENT means the caller went
// away before it could be received.
func notifRecv(fd int, n *seccompNotif) error {
	*n = seccompNotif{} // the kernel wants it zeroed
	return seccompIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

// notifValid reports whether notification id still waits for an answer: the
// thread is alive and still in that call, so what was read of it holds.
func notifValid(fd int, id uint64) bool {
	return seccompIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// notifContinue lets the call run as if there were no filter.
func notifContinue(fd int, id uint64) error {
	r := seccompNotifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	return seccompIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// notifSucceed makes the call return 0 without running it.
func notifSucceed(fd int, id uint64) error {
	r := seccompNotifResp{ID: id}
	return seccompIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// notifSetFD installs src at fd number dst of the calling process, replacing
// what was there (SECCOMP_ADDFD_FLAG_SETFD, as dup2 does).
func notifSetFD(fd int, id uint64, src, dst int, cloexec bool) error {
	a := seccompNotifAddfd{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SETFD, Srcfd: uint32(src), Newfd: uint32(dst)}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	if err := seccompIoctl(fd, unix.SECCOMP_IOCTL_NOTIF_ADDFD, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("seccomp addfd at fd %d: %w", dst, err)
	}
	return nil
}

// pidfdGetfd duplicates fd of the process behind pidfd into zedr-run
// (close-on-exec).
func pidfdGetfd(pidfd, fd int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_PIDFD_GETFD, uintptr(pidfd), uintptr(fd), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// readMem reads len(buf) bytes at addr in process pid.
func readMem(pid int, addr uint64, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil {
		return fmt.Errorf("read the memory of pid=%d: %w", pid, err)
	}
	if n != len(buf) {
		return fmt.Errorf("read the memory of pid=%d: short read", pid)
	}
	return nil
}

// readString reads a NUL-terminated string of at most max bytes at addr,
// page by page, so that it never reads past the mapping it ends in.
func readString(pid int, addr uint64, max int) (string, error) {
	const page = 4096
	var out []byte
	for len(out) < max {
		n := page - int(addr%page)
		buf := make([]byte, n)
		if err := readMem(pid, addr, buf); err != nil {
			return "", err
		}
		for i, b := range buf {
			if b == 0 {
				return string(append(out, buf[:i]...)), nil
			}
		}
		out = append(out, buf...)
		addr += uint64(n)
	}
	return "", fmt.Errorf("string at %#x in pid=%d longer than %d bytes", addr, pid, max)
}
