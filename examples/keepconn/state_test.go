//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestStateGolden: a state written by keepconn/1 still reads.
func TestStateGolden(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "state-keepconn-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := readState(f)
	if err != nil {
		t.Fatal(err)
	}
	want := savedState{Format: stateFormat, Counter: 42, Conns: []savedConn{{Unread: []byte("ECHO half-")}, {}}}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("read %+v, want %+v", st, want)
	}
}

// TestStateRoundTrip: writeState replaces the memfd's content, a shorter
// state included; an empty memfd is the zero state; an unknown format is
// refused.
func TestStateRoundTrip(t *testing.T) {
	f, err := newStateFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st, err := readState(f); err != nil || st.Counter != 0 || st.Conns != nil {
		t.Fatalf("an empty memfd reads %+v, %v; want the zero state", st, err)
	}
	long := savedState{Counter: 7, Conns: []savedConn{{Unread: []byte("INCR\nGE")}, {Unread: []byte(strings.Repeat("x", 4096))}}}
	short := savedState{Counter: 8}
	for _, st := range []savedState{long, short} {
		if err := writeState(f, st); err != nil {
			t.Fatal(err)
		}
		got, err := readState(f)
		st.Format = stateFormat
		if err != nil || !reflect.DeepEqual(got, st) {
			t.Errorf("read back %+v, %v; want %+v", got, err, st)
		}
	}
	f.Truncate(0)
	f.WriteAt([]byte(`{"format":"keepconn/9","counter":1}`), 0)
	if _, err := readState(f); err == nil || !strings.Contains(err.Error(), `format "keepconn/9"`) {
		t.Errorf("an unknown format reads with %v; want it refused", err)
	}
}

// TestStateWriteCutShort: a generation killed in writeState after writing a
// shorter state over a longer one, before cutting the longer one's rest,
// leaves a state that reads as the new one, not an error or the zero state.
func TestStateWriteCutShort(t *testing.T) {
	f, err := newStateFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeState(f, savedState{Counter: 7, Conns: []savedConn{{Unread: []byte(strings.Repeat("x", 100))}}}); err != nil {
		t.Fatal(err)
	}
	short, err := json.Marshal(savedState{Format: stateFormat, Counter: 8})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(short, 0); err != nil { // writeState's first step only
		t.Fatal(err)
	}
	if st, err := readState(f); err != nil || st.Counter != 8 || st.Conns != nil {
		t.Errorf("read %+v, %v; want counter 8 and no connections", st, err)
	}
}
