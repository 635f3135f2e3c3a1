package watch

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"
)

func TestELFComplete(t *testing.T) {
	t.Parallel()
	b := realELF(t)
	if why := elfIncomplete(bytes.NewReader(b), int64(len(b))); why != "" {
		t.Fatalf("complete binary: %s", why)
	}
	// Every cut before the end of the last section or segment is incomplete, wherever it falls:
	// in the header, the program or section headers, the code, or the DWARF past the segments.
	end := dataEnd(t, b)
	for _, cut := range []int{1, 3, 4, 20, 63, 64, 100, 1000, 4096, len(b) / 3, len(b) / 2, end - 4096, end - 1} {
		if why := elfIncomplete(bytes.NewReader(b[:cut]), int64(cut)); why == "" {
			t.Errorf("cut at %d of %d: complete, want incomplete", cut, len(b))
		}
	}
}

// dataEnd is where the last section or segment of an ELF file ends, by debug/elf.
func dataEnd(t *testing.T, b []byte) int {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var end uint64
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			end = max(end, s.Offset+s.FileSize)
		}
	}
	for _, p := range f.Progs {
		end = max(end, p.Off+p.Filesz)
	}
	return int(end)
}

func TestELFNotELF(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"", "#!/bin/sh\n", "x", "\x7fELX and more bytes than a header holds........................................."} {
		if why := elfIncomplete(bytes.NewReader([]byte(b)), int64(len(b))); why != "" {
			t.Errorf("%q: %s, want complete", b, why)
		}
	}
}

// A hand-made 32-bit big-endian header, to exercise the other class and byte order.
func TestELF32(t *testing.T) {
	t.Parallel()
	h := elf.Header32{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_MIPS), Version: uint32(elf.EV_CURRENT),
		Phoff: 52, Phentsize: 32, Phnum: 1, Shoff: 0, Ehsize: 52,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS32)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	p := elf.Prog32{Type: uint32(elf.PT_LOAD), Off: 0, Filesz: 200}
	var buf bytes.Buffer
	binary.Write(&buf, binary.BigEndian, h)
	binary.Write(&buf, binary.BigEndian, p)
	b := append(buf.Bytes(), make([]byte, 200-buf.Len())...)
	if why := elfIncomplete(bytes.NewReader(b), int64(len(b))); why != "" {
		t.Errorf("complete: %s", why)
	}
	for _, cut := range []int{40, 60, 84, 199} {
		if why := elfIncomplete(bytes.NewReader(b[:cut]), int64(cut)); why == "" {
			t.Errorf("cut at %d: complete, want incomplete", cut)
		}
	}
}
