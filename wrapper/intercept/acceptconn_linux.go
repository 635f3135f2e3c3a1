package intercept

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"zedr-run/internal/seccomp"
)

// onAcceptConn answers getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN) on a held
// stream socket that the calling generation has not listen()ed on yet: 0,
// "not listening", as the caller's own socket would say between its bind()
// and its listen(). zedr-run's socket always listens; a server that skips
// listen() on a socket that already listens would otherwise never call it,
// and --ready listen would never see it ready. Once the generation has
// called listen() (or for any other socket) the call runs unchanged.
//
// The answer is written into the caller's optval and optlen through
// /proc/PID/mem, opened before the notification is checked to be still
// valid, so the write reaches the caller and never a process that reused
// its pid. An optlen below sizeof(int) is left to the kernel.
func (ic *Interceptor) onAcceptConn(listener int, g *generationTaps, n *seccomp.Notif) (bool, error) {
	a := n.Data.Args
	if int32(a[1]) != unix.SOL_SOCKET || int32(a[2]) != unix.SO_ACCEPTCONN {
		return false, nil
	}
	fd := int(int32(a[0]))
	c, theirs, err := openCallerFD(listener, n, fd)
	if err != nil {
		return false, err
	}
	defer c.close()
	if theirs < 0 {
		return false, nil
	}
	defer unix.Close(theirs)
	i := ic.heldIndex(theirs)
	if i < 0 || ic.heldAt(i).sotype == unix.SOCK_DGRAM {
		return false, nil
	}
	if _, listened := g.taken[i]; listened {
		return false, nil
	}
	mem, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", c.tgid), os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer mem.Close()
	if !seccomp.Valid(listener, n.ID) {
		return false, unix.ENOENT
	}
	var word [4]byte
	if _, err := mem.ReadAt(word[:], int64(a[4])); err != nil {
		return false, unlessBadPointer(fmt.Errorf("read optlen of pid=%d: %w", c.tgid, err)) // /proc/PID/mem: EIO
	}
	if int32(binary.NativeEndian.Uint32(word[:])) < 4 {
		return false, nil
	}
	binary.NativeEndian.PutUint32(word[:], 0)
	if _, err := mem.WriteAt(word[:], int64(a[3])); err != nil {
		return false, fmt.Errorf("write optval of pid=%d: %w", c.tgid, err)
	}
	binary.NativeEndian.PutUint32(word[:], 4)
	if _, err := mem.WriteAt(word[:], int64(a[4])); err != nil {
		return false, fmt.Errorf("write optlen of pid=%d: %w", c.tgid, err)
	}
	ic.log.Debug("SO_ACCEPTCONN answered: not listening yet", "gen", g.gen, "pid", c.tgid, "fd", fd, "spec", ic.heldAt(i).spec)
	return true, nil
}

// heldIndex returns the index of the open held socket fd refers to, or -1.
func (ic *Interceptor) heldIndex(fd int) int {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return -1
	}
	return ic.heldIndexOf(&st)
}

// heldIndexOf returns the index of the open held socket whose fstat is st,
// or -1.
func (ic *Interceptor) heldIndexOf(st *unix.Stat_t) int {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	for i, h := range ic.held {
		if !h.closed && h.dev == st.Dev && h.ino == st.Ino {
			return i
		}
	}
	return -1
}
