package socketact

import (
	"fmt"
	"os"
	"strings"
)

// zedr-run's side of its own service manager's fd store, for its children
// (--fdstore): each descriptor a child keeps in zedr-run's store is pushed on
// to the manager's store too (see StoreFDs for the protocol), under a name
// of its own, and handed back in LISTEN_FDS when the manager starts zedr-run
// again; OpenAllStored sets those apart from the sockets.

// The names of the children's descriptors in the service manager's store:
// the prefix and the child's FDNAME=, so that they can never be taken for
// a --listen socket or one a socket unit passes on (those keep their names
// as given, and a --listen socket is adopted by its address, never by its
// name). The second prefix remembers FDPOLL=0 across a restart of zedr-run.
// No socket name may contain ':', so neither can be mistaken for the other.
const (
	ManagerStorePrefix       = "zedr-store."
	ManagerStoreNoPollPrefix = "zedr-store-nopoll."
)

// ManagerStored is a descriptor a child had stored that zedr-run got back
// from its service manager's store: Name is the child's FDNAME=, Poll is
// false when it was stored with FDPOLL=0.
type ManagerStored struct {
	Name string
	File *os.File
	Poll bool
}

// ManagerStoreName is the name under which zedr-run keeps a child's
// descriptor named name in its service manager's store, or an error when
// that name is not one the manager accepts (a child's name close to the
// 255-byte limit is too long once prefixed).
func ManagerStoreName(name string, poll bool) (string, error) {
	full := ManagerStorePrefix + name
	if !poll {
		full = ManagerStoreNoPollPrefix + name
	}
	if problem := FDNameProblem(full); problem != "" {
		return "", fmt.Errorf("fd name %.40q in the service manager's store: %s", full, problem)
	}
	return full, nil
}

// parseManagerStoreName is ManagerStoreName's inverse: ok is false for a
// name that is not one.
func parseManagerStoreName(full string) (name string, poll, ok bool) {
	if name, ok := strings.CutPrefix(full, ManagerStoreNoPollPrefix); ok && name != "" {
		return name, false, true
	}
	if name, ok := strings.CutPrefix(full, ManagerStorePrefix); ok && name != "" {
		return name, true, true
	}
	return "", false, false
}

// OpenAllStored is OpenAll for a zedr-run whose service manager keeps
// descriptors for its children (--fdstore): the inherited ones named by
// ManagerStoreName are returned apart, in the order handed over, and not
// taken for sockets. The caller owns their files.
func OpenAllStored(specs []Spec) ([]*Socket, []ManagerStored, error) {
	files, names, err := Inherited()
	if err != nil {
		return nil, nil, fmt.Errorf("inherited sockets: %w", err)
	}
	var rest []*os.File
	var restNames []string
	var stored []ManagerStored
	for i, f := range files {
		if name, poll, ok := parseManagerStoreName(names[i]); ok {
			stored = append(stored, ManagerStored{Name: name, File: f, Poll: poll})
			continue
		}
		rest, restNames = append(rest, f), append(restNames, names[i])
	}
	socks, err := openAll(specs, rest, restNames)
	if err != nil {
		for _, s := range stored {
			s.File.Close()
		}
		return nil, nil, err
	}
	return socks, stored, nil
}
