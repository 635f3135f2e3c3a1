package wrapper

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"zedr-run/reexec"
	"zedr-run/socketact"
	"zedr-run/wrapper/control"
)

// The fd store, as systemd's (FileDescriptorStoreMax=, sd_pid_notify_with_fds(3)):
// a process of a generation sends FDSTORE=1 with FDNAME=NAME and descriptors
// (SCM_RIGHTS) on NOTIFY_SOCKET; zedr-run keeps them, and every generation
// started later gets them after the --listen sockets (fds 3+len(sockets),
// ...), in the order stored, named in LISTEN_FDNAMES. FDSTOREREMOVE=1 with
// FDNAME= drops every stored fd of that name. A stored fd that reports
// EPOLLHUP or EPOLLERR is dropped (a client hung up on a stored
// connection), unless it was stored with FDPOLL=0. The store lives in the
// supervisor, so it outlives crashes, and is handed over by `zedr-run
// reexec`.
//
// Only the loop touches the store; the watching for hang-ups runs on the
// fdPoller's goroutine and comes back as an fdHangup event.

// DefaultFDStoreMax is how many descriptors the store keeps unless
// --fdstore-max says otherwise: 128 lets a server keep a few listeners,
// its state in a memfd and a hundred long-lived connections, and is small
// enough that a child storing in a loop cannot make zedr-run (often root)
// run out of descriptors. systemd's FileDescriptorStoreMax= defaults to 0
// (off) for services that never asked; zedr-run's children are started by
// someone who chose zedr-run, so the store is on.
const DefaultFDStoreMax = 128

// defaultFDName is the name of an fd stored without FDNAME=, as systemd's.
const defaultFDName = "stored"

// storedFD is one descriptor in the store.
type storedFD struct {
	id   int32 // the poller's key
	name string
	file *os.File
	kind string // what it is, for status ("tcp listener", "memfd", ...)
	gen  int    // the generation whose process stored it
	poll bool   // dropped on EPOLLHUP/EPOLLERR (not FDPOLL=0)
	// watched: the poller watches it (poll, and a kind epoll can watch:
	// not a regular file or memfd, which never hang up).
	watched bool
}

// fdHangup is the poller's report that the stored fd id hung up.
type fdHangup struct{ id int32 }

func (fdHangup) isEvent() {}

// onFDStore handles the fd store's part of a notify message from worker w:
// FDSTOREREMOVE=1, then FDSTORE=1. Every descriptor the message carries is
// stored or closed here.
func (s *supervisor) onFDStore(w *worker, m notifyMessage) {
	files := slices.Clone(m.fds) // a stored one is set to nil here
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	store, remove := m.fields["FDSTORE"] == "1", m.fields["FDSTOREREMOVE"] == "1"
	if !store && !remove {
		if m.fields["BARRIER"] == "1" {
			// sd_notify_barrier(3): its fd, closed here (deferred) once every
			// earlier message of the sender was handled, is the answer.
			return
		}
		if len(files) > 0 || m.cut {
			s.log.Warn("notify message with descriptors but no FDSTORE=1: closed them", "gen", w.g.n, "pid", m.pid)
		}
		return
	}
	name, named := m.fields["FDNAME"]
	if !named {
		if remove {
			s.log.Warn("fd store: FDSTOREREMOVE=1 without FDNAME=: nothing removed", "gen", w.g.n, "pid", m.pid)
			remove = false
		}
		name = defaultFDName
	}
	if err := checkFDName(name); err != nil {
		s.log.Warn("fd store: bad FDNAME", "gen", w.g.n, "pid", m.pid, "err", err)
		return
	}
	if remove {
		s.removeStored(name, fmt.Sprintf("FDSTOREREMOVE=1 from gen %d pid=%d", w.g.n, m.pid))
		s.forwardRemoved(name)
	}
	if !store {
		return
	}
	switch {
	case s.cfg.InterceptBind:
		s.log.Warn("fd store: refused in transparent mode (--intercept-bind), where the children get no fds but their own binds", "gen", w.g.n, "pid", m.pid, "name", name)
		return
	case s.cfg.FDStoreMax == 0:
		s.log.Warn("fd store: refused, the store is off (--fdstore-max 0)", "gen", w.g.n, "pid", m.pid, "name", name)
		return
	case m.cut:
		s.log.Warn("fd store: refused a message with more descriptors than one message may carry", "gen", w.g.n, "pid", m.pid, "name", name)
		return
	}
	poll := m.fields["FDPOLL"] != "0"
	for i, f := range files {
		if s.alreadyStored(f) {
			continue // as systemd: one copy of each (the deferred close drops ours)
		}
		if len(s.store) >= s.cfg.FDStoreMax {
			s.log.Warn("fd store: full, refused the rest", "gen", w.g.n, "pid", m.pid, "name", name, "refused", len(files)-i, "max", s.cfg.FDStoreMax)
			return
		}
		fd := &storedFD{id: s.newStoreID(), name: name, file: f, kind: fdKind(f), gen: w.g.n, poll: poll}
		files[i] = nil
		s.store = append(s.store, fd)
		s.watchStored(fd)
		s.forwardStored(fd)
		s.log.Info("fd store: stored", "name", name, "kind", fd.kind, "gen", w.g.n, "pid", m.pid, "poll", poll, "stored", len(s.store))
	}
}

// newStoreID is an id for the poller that no stored fd has, from 1 up.
// A child that stores and removes in a loop makes many: the count wraps
// round to 1, never onto the poller's wakeID (-1), which would end the
// poller, nor onto an id still stored.
func (s *supervisor) newStoreID() int32 {
	for {
		s.nextStoreID++
		if s.nextStoreID <= 0 {
			s.nextStoreID = 1
		}
		if !slices.ContainsFunc(s.store, func(fd *storedFD) bool { return fd.id == s.nextStoreID }) {
			return s.nextStoreID
		}
	}
}

// removeStored drops every stored fd named name.
func (s *supervisor) removeStored(name, why string) {
	kept := s.store[:0]
	n := 0
	for _, fd := range s.store {
		if fd.name != name {
			kept = append(kept, fd)
			continue
		}
		s.dropStored(fd)
		n++
	}
	clear(s.store[len(kept):])
	s.store = kept
	s.log.Info("fd store: removed", "name", name, "count", n, "by", why)
}

// onFDHangup drops the stored fd that hung up, if it is still stored.
func (s *supervisor) onFDHangup(ev fdHangup) {
	for i, fd := range s.store {
		if fd.id == ev.id {
			s.dropStored(fd)
			s.store = append(s.store[:i], s.store[i+1:]...)
			s.log.Info("fd store: dropped a descriptor that hung up", "name", fd.name, "kind", fd.kind, "gen", fd.gen, "stored", len(s.store))
			return
		}
	}
}

// dropStored stops watching fd and closes it.
func (s *supervisor) dropStored(fd *storedFD) {
	if fd.watched {
		s.fdpoll.remove(fd.file)
	}
	fd.file.Close()
}

// watchStored has the poller watch fd for hang-ups, when it was stored to
// be. Regular files and memfds cannot be watched (EPERM): they never hang
// up.
func (s *supervisor) watchStored(fd *storedFD) {
	if s.fdpoll == nil || !fd.poll {
		return
	}
	err := s.fdpoll.add(fd.file, fd.id)
	fd.watched = err == nil
	if err != nil {
		if err != unix.EPERM {
			s.log.Warn("fd store: cannot watch a stored descriptor for hang-ups; it stays until removed", "name", fd.name, "err", err)
		}
	}
}

// alreadyStored says whether f is a descriptor of a file the store holds.
func (s *supervisor) alreadyStored(f *os.File) bool {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return false
	}
	for _, fd := range s.store {
		var o unix.Stat_t
		if unix.Fstat(int(fd.file.Fd()), &o) == nil && o.Dev == st.Dev && o.Ino == st.Ino {
			return true
		}
	}
	return false
}

// closeStore closes every stored fd, when zedr-run ends.
func (s *supervisor) closeStore() {
	for _, fd := range s.store {
		fd.file.Close()
	}
	s.store = nil
}

// storedNames are the names of the store's fds, in the order the next
// child gets them (childFiles).
func (s *supervisor) storedNames() []string {
	var names []string
	for _, fd := range s.store {
		names = append(names, fd.name)
	}
	return names
}

// storeView is the store as Status shows it: the fd each child gets it at.
func (s *supervisor) storeView() []control.StoredFDStatus {
	var out []control.StoredFDStatus
	for i, fd := range s.store {
		out = append(out, control.StoredFDStatus{FD: socketact.ListenFdsStart + len(s.cfg.Sockets) + i, Name: fd.name, Kind: fd.kind, Gen: fd.gen, Poll: fd.poll})
	}
	return out
}

// checkFDName accepts the names systemd's fdname_is_valid accepts:
// see socketact.FDNameProblem.
func checkFDName(name string) error {
	if problem := socketact.FDNameProblem(name); problem != "" {
		return fmt.Errorf("FDNAME=%.40q: %s", name, problem)
	}
	return nil
}

// fdKind says what a stored descriptor is, for status.
func fdKind(f *os.File) string {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "unknown"
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return socketKind(fd)
	case unix.S_IFIFO:
		return "pipe"
	case unix.S_IFREG:
		if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil && strings.HasPrefix(link, "/memfd:") {
			return "memfd"
		}
		return "file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFCHR:
		return "character device"
	}
	return "other"
}

// socketKind names a socket by its domain, type and whether it listens.
func socketKind(fd int) string {
	domain, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	listening, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	proto := map[int]string{unix.AF_INET: "tcp4", unix.AF_INET6: "tcp6", unix.AF_UNIX: "unix"}[domain]
	switch {
	case proto == "":
		proto = "socket"
	case typ == unix.SOCK_DGRAM && domain == unix.AF_UNIX:
		return "unixgram"
	case typ == unix.SOCK_DGRAM:
		return "udp" + proto[3:]
	case typ == unix.SOCK_SEQPACKET:
		proto = "unixpacket"
	}
	if listening == 1 {
		return proto + " listener"
	}
	return proto + " connection"
}

// restoreStore takes over the fd store a previous zedr-run handed over:
// close-on-exec again, watched again for hang-ups where it was.
func (s *supervisor) restoreStore(stored []reexec.HandoffStored) {
	for _, hs := range stored {
		unix.CloseOnExec(hs.FD)
		fd := &storedFD{id: s.newStoreID(), name: hs.Name, file: os.NewFile(uintptr(hs.FD), hs.Name), kind: hs.Kind, gen: hs.Gen, poll: hs.Poll}
		s.store = append(s.store, fd)
		s.watchStored(fd)
	}
}
