package seccomp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp user-notification ABI (linux/seccomp.h), which x/sys/unix
// only has the constants of.

// Data is struct seccomp_data: the call a notification is about.
type Data struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// Notif is struct seccomp_notif, filled by Recv.
type Notif struct {
	ID    uint64
	Pid   uint32 // the thread that made the call, in zedr-run's pid namespace
	Flags uint32
	Data  Data
}

// notifResp is struct seccomp_notif_resp, for SECCOMP_IOCTL_NOTIF_SEND.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// notifAddfd is struct seccomp_notif_addfd, for SECCOMP_IOCTL_NOTIF_ADDFD.
type notifAddfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

func init() {
	// The ioctl numbers encode these sizes; a layout mistake would show here.
	if unsafe.Sizeof(Notif{}) != 0x50 || unsafe.Sizeof(notifResp{}) != 0x18 || unsafe.Sizeof(notifAddfd{}) != 0x18 {
		panic("seccomp notification structs have the wrong size")
	}
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
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

// Recv waits for the next notification. ENOENT means the caller went
// away before it could be received.
func Recv(fd int, n *Notif) error {
	*n = Notif{} // the kernel wants it zeroed
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(n))
}

// Valid reports whether notification id still waits for an answer: the
// thread is alive and still in that call, so what was read of it holds.
func Valid(fd int, id uint64) bool {
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil
}

// Continue lets the call run as if there were no filter.
func Continue(fd int, id uint64) error {
	r := notifResp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// Succeed makes the call return 0 without running it.
func Succeed(fd int, id uint64) error {
	r := notifResp{ID: id}
	return ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// SetFD installs src at fd number dst of the calling process, replacing
// what was there (SECCOMP_ADDFD_FLAG_SETFD, as dup2 does).
func SetFD(fd int, id uint64, src, dst int, cloexec bool) error {
	a := notifAddfd{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SETFD, Srcfd: uint32(src), Newfd: uint32(dst)}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	if err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_ADDFD, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("seccomp addfd at fd %d: %w", dst, err)
	}
	return nil
}

// PidfdGetfd duplicates fd of the process behind pidfd into zedr-run
// (close-on-exec).
func PidfdGetfd(pidfd, fd int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_PIDFD_GETFD, uintptr(pidfd), uintptr(fd), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// ReadMem reads len(buf) bytes at addr in process pid. An address the
// process cannot read either, in part or whole, is an error wrapping
// EFAULT, as the call itself would fail.
func ReadMem(pid int, addr uint64, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil {
		return fmt.Errorf("read the memory of pid=%d: %w", pid, err)
	}
	if n != len(buf) {
		return fmt.Errorf("read the memory of pid=%d: short read: %w", pid, unix.EFAULT)
	}
	return nil
}

// ReadString reads a NUL-terminated string of at most max bytes at addr,
// page by page, so that it never reads past the mapping it ends in.
func ReadString(pid int, addr uint64, max int) (string, error) {
	const page = 4096
	var out []byte
	for len(out) < max {
		n := page - int(addr%page)
		buf := make([]byte, n)
		if err := ReadMem(pid, addr, buf); err != nil {
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
	return "", fmt.Errorf("string at %#x in pid=%d longer than %d bytes: %w", addr, pid, max, unix.ENAMETOOLONG)
}
