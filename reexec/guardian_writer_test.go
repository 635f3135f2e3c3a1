package reexec

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"syscall"
	"testing"

	"zedr-run/internal/sockfile"
)

// tell writes the golden orders through a Guardian and returns its bytes;
// with exit, it ends with Close, as a zedr-run that stops normally.
func tell(t *testing.T, exit bool) []byte {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); out <- b }()
	g := &Guardian{w: w}
	g.Add(4242)
	g.Add(4343)
	g.File(2049, 1234567, "/run/app.sock")
	g.File(64769, 18446744073709551615, "/tmp/with space\nand newline.sock")
	g.Cgroup("/sys/fs/cgroup/system.slice/app.service/zedr-run")
	g.Socket(987654)
	g.Env("NOTIFY_SOCKET=/tmp/zedr-run-1/notify")
	g.Remove(4242)
	if exit {
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		w.Close() // zedr-run died
	}
	return <-out
}

// TestGuardianWriterGolden: the writer's lines do not change unnoticed. A
// guardian started by an older zedr-run outlives a reexec and must read
// what the new one writes, so a change here needs a guardian that reads
// both forms first (as the "@PATH" file lines did).
func TestGuardianWriterGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/guardian-writer.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got := tell(t, true); !bytes.Equal(got, want) {
		t.Errorf("the guardian's lines changed; a guardian of an older zedr-run would misread them. Now:\n%s", got)
	}
}

// TestGuardianRoundTrip: what the writer says is what the reader acts on.
func TestGuardianRoundTrip(t *testing.T) {
	want := guardOrders{
		groups: map[int]bool{4343: true},
		files: []guardFile{
			{path: "/run/app.sock", id: sockfile.ID{Dev: 2049, Ino: 1234567}},
			{path: "/tmp/with space\nand newline.sock", id: sockfile.ID{Dev: 64769, Ino: 18446744073709551615}},
		},
		cgroups: []string{"/sys/fs/cgroup/system.slice/app.service/zedr-run"},
		env:     []string{"NOTIFY_SOCKET=/tmp/zedr-run-1/notify"},
		inodes:  map[uint64]bool{987654: true},
	}
	if got := readOrders(bytes.NewReader(tell(t, false))); !reflect.DeepEqual(got, want) {
		t.Errorf("zedr-run died: the guardian read\n%+v\nwant\n%+v", got, want)
	}
	if got := readOrders(bytes.NewReader(tell(t, true))); !got.exit {
		t.Errorf("zedr-run stopped normally: the guardian read %+v, want exit", got)
	}
}

// TestGuardianOldLines: the golden input of older zedr-runs still reads.
func TestGuardianOldLines(t *testing.T) {
	f, err := os.Open("testdata/guardian-lines.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if o := readOrders(f); !o.exit || len(o.files) != 3 || len(o.groups) != 0 {
		t.Errorf("read %+v, want exit after 3 files and no group left", o)
	}
}

// TestStartGuardian: the guardian is this binary as GuardianName, in its
// own process group, without a parent-death signal, reading a pipe.
func TestStartGuardian(t *testing.T) {
	var path string
	var argv []string
	var attr *syscall.ProcAttr
	g, err := StartGuardian(func(p string, a []string, pa *syscall.ProcAttr) (int, error) {
		path, argv, attr = p, a, pa
		return 99, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if path != SelfExe || !reflect.DeepEqual(argv, []string{GuardianName}) {
		t.Errorf("started %s %q, want %s %q", path, argv, SelfExe, GuardianName)
	}
	if len(attr.Files) != 3 || !attr.Sys.Setpgid || attr.Sys.Pdeathsig != 0 {
		t.Errorf("started with files %v, sys %+v; want 3 files, its own group, no parent-death signal", attr.Files, attr.Sys)
	}
	if g.FD() < 0 {
		t.Errorf("FD() = %d", g.FD())
	}

	if _, err := StartGuardian(func(string, []string, *syscall.ProcAttr) (int, error) { return 0, syscall.EAGAIN }); err == nil {
		t.Error("StartGuardian: a start that fails is no error")
	}
}
