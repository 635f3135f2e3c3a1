package wrapper

import (
	"zedr-run/socketact"
)

// The children's fd store in zedr-run's own service manager's store
// (--fdstore, Config.ForwardStore): every descriptor stored here
// (fdstore_linux.go) is pushed on to the manager with FDSTORE=1, under
// socketact.ManagerStoreName (FDPOLL=0 when the child said so), and a
// child's FDSTOREREMOVE=1 is passed on too. When the manager starts
// zedr-run again (systemctl restart, or zedr-run crashed), it hands them
// back in LISTEN_FDS; main sets them apart (socketact.OpenAllStored) and
// restoreManagerStore puts them in the store, so the first generation of
// the new zedr-run finds them as the last generation of the old one left
// them.
//
// A descriptor that hangs up is dropped here, and by systemd too (it polls
// them as we do, unless FDPOLL=0). The pushes are writes to the manager's
// socket, made from the loop.

// forwardStored pushes fd, just stored, on to the service manager's store.
func (s *supervisor) forwardStored(fd *storedFD) {
	if !s.cfg.ForwardStore {
		return
	}
	name, err := socketact.ManagerStoreName(fd.name, fd.poll)
	if err != nil {
		s.log.Warn("fd store: kept here only, not in the service manager's store", "name", fd.name, "err", err)
		return
	}
	lines := []string{"FDSTORE=1", "FDNAME=" + name}
	if !fd.poll {
		lines = append(lines, "FDPOLL=0")
	}
	if err := s.outer.SendWithFDs([]int{int(fd.file.Fd())}, lines...); err != nil {
		s.log.Warn("fd store: kept here only, the service manager's store refused it", "name", fd.name, "socket", s.outer.Addr(), "err", err)
	}
}

// forwardRemoved removes every descriptor named name from the service
// manager's store, stored with FDPOLL=0 or not.
func (s *supervisor) forwardRemoved(name string) {
	if !s.cfg.ForwardStore {
		return
	}
	for _, poll := range []bool{true, false} {
		full, err := socketact.ManagerStoreName(name, poll)
		if err != nil {
			continue // never pushed
		}
		if err := s.outer.Send("FDSTOREREMOVE=1", "FDNAME="+full); err != nil {
			s.log.Warn("fd store: could not remove from the service manager's store", "name", name, "socket", s.outer.Addr(), "err", err)
		}
	}
}

// restoreManagerStore puts in the store what the service manager handed
// back at zedr-run's start, in its order, up to the store's bound; the
// generation that stored them is unknown (0). Without --fdstore, whose
// removals would not reach the manager, or without a store (--fdstore-max
// 0, transparent mode) they are closed here: the manager still keeps them.
func (s *supervisor) restoreManagerStore(stored []socketact.ManagerStored) {
	for _, st := range stored {
		if !s.cfg.ForwardStore || s.fdpoll == nil || len(s.store) >= s.cfg.FDStoreMax {
			s.log.Warn("fd store: closed a descriptor the service manager handed back (no --fdstore, the store is off or full); the manager still keeps it", "name", st.Name, "max", s.cfg.FDStoreMax)
			st.File.Close()
			continue
		}
		fd := &storedFD{id: s.newStoreID(), name: st.Name, file: st.File, kind: fdKind(st.File), poll: st.Poll}
		s.store = append(s.store, fd)
		s.watchStored(fd)
		s.log.Info("fd store: restored from the service manager's store", "name", fd.name, "kind", fd.kind, "poll", fd.poll, "stored", len(s.store))
	}
}
