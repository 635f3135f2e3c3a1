package watch

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// pnXnum is PN_XNUM: e_phnum holds this when the real count is in section 0's sh_info.
const pnXnum = 0xffff

// elfLayout is the part of an ELF header (either class) that locates the rest of the file.
type elfLayout struct {
	phoff, phentsize, phnum uint64
	shoff, shentsize, shnum uint64
}

// elfIncomplete reports why r, of the given size, is an ELF file that is still being written: its
// header, program headers or section headers, a loadable segment (PT_LOAD) or a section with data
// in the file (not SHT_NOBITS) reaches past size. Headers alone are not enough: the Go linker puts
// the section headers right after the program headers, and a Go binary's DWARF lies past its last
// segment. It returns "" for a complete ELF file, for a file that is not ELF (a script), and for an
// ELF file it cannot make sense of (better to start it than to wait forever).
func elfIncomplete(r io.ReaderAt, size int64) string {
	var ident [elf.EI_NIDENT]byte
	n, _ := r.ReadAt(ident[:], 0)
	if n < len(elf.ELFMAG) {
		if n > 0 && bytes.HasPrefix([]byte(elf.ELFMAG), ident[:n]) {
			return fmt.Sprintf("%d bytes, the start of an ELF header", n)
		}
		return ""
	}
	if string(ident[:len(elf.ELFMAG)]) != elf.ELFMAG {
		return ""
	}
	if n < len(ident) {
		return fmt.Sprintf("ELF header truncated at %d bytes", n)
	}
	var bo binary.ByteOrder
	switch elf.Data(ident[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return ""
	}
	class := elf.Class(ident[elf.EI_CLASS])
	var l elfLayout
	switch class {
	case elf.ELFCLASS64:
		var h elf.Header64
		if binary.Size(h) > int(size) {
			return fmt.Sprintf("ELF header truncated at %d bytes", size)
		}
		if err := binary.Read(io.NewSectionReader(r, 0, size), bo, &h); err != nil {
			return fmt.Sprintf("ELF header unreadable: %v", err)
		}
		l = elfLayout{h.Phoff, uint64(h.Phentsize), uint64(h.Phnum), h.Shoff, uint64(h.Shentsize), uint64(h.Shnum)}
	case elf.ELFCLASS32:
		var h elf.Header32
		if binary.Size(h) > int(size) {
			return fmt.Sprintf("ELF header truncated at %d bytes", size)
		}
		if err := binary.Read(io.NewSectionReader(r, 0, size), bo, &h); err != nil {
			return fmt.Sprintf("ELF header unreadable: %v", err)
		}
		l = elfLayout{uint64(h.Phoff), uint64(h.Phentsize), uint64(h.Phnum), uint64(h.Shoff), uint64(h.Shentsize), uint64(h.Shnum)}
	default:
		return ""
	}
	return l.check(r, uint64(size), bo, class)
}

func (l elfLayout) check(r io.ReaderAt, size uint64, bo binary.ByteOrder, class elf.Class) string {
	// past reports whether the table at off of n entries of entsize bytes ends past size. Each
	// operand is at most 64 KiB or checked against size first, so nothing overflows.
	past := func(off, entsize, n uint64) bool {
		return off > size || entsize*n > size-off
	}
	// Section headers: e_shnum 0 with e_shoff set means the count is in section 0's sh_size.
	shnum := l.shnum
	if l.shoff != 0 {
		if past(l.shoff, l.shentsize, max(shnum, 1)) {
			return fmt.Sprintf("section headers end past the end of the file (%d bytes)", size)
		}
		if (shnum == 0 || l.phnum == pnXnum) && l.shentsize >= entSize(class, elf.Section64{}, elf.Section32{}) {
			table, ok := readTable(r, l.shoff, l.shentsize, 1)
			if !ok {
				return ""
			}
			s, ok := decodeSection(table, bo, class)
			if !ok {
				return ""
			}
			if shnum == 0 {
				shnum = s.size
			}
			if l.phnum == pnXnum {
				l.phnum = s.info
			}
			if shnum > size || past(l.shoff, l.shentsize, shnum) {
				return fmt.Sprintf("section headers end past the end of the file (%d bytes)", size)
			}
		}
	}
	if l.phnum > 0 && past(l.phoff, l.phentsize, l.phnum) {
		return fmt.Sprintf("program headers end past the end of the file (%d bytes)", size)
	}
	if l.phnum > 0 && l.phentsize >= entSize(class, elf.Prog64{}, elf.Prog32{}) {
		table, ok := readTable(r, l.phoff, l.phentsize, l.phnum)
		if !ok {
			return ""
		}
		for i := range l.phnum {
			p, ok := decodeProg(table[i*l.phentsize:], bo, class)
			if !ok {
				return ""
			}
			if p.typ == elf.PT_LOAD && (p.off > size || p.filesz > size-p.off) {
				return fmt.Sprintf("segment %d ends at %d, past the end of the file (%d bytes)", i, p.off+p.filesz, size)
			}
		}
	}
	if l.shoff == 0 || l.shentsize < entSize(class, elf.Section64{}, elf.Section32{}) {
		return ""
	}
	table, ok := readTable(r, l.shoff, l.shentsize, shnum)
	if !ok {
		return ""
	}
	for i := range shnum {
		s, ok := decodeSection(table[i*l.shentsize:], bo, class)
		if !ok {
			return ""
		}
		if s.typ != elf.SHT_NOBITS && s.typ != elf.SHT_NULL && (s.off > size || s.size > size-s.off) {
			return fmt.Sprintf("section %d ends at %d, past the end of the file (%d bytes)", i, s.off+s.size, size)
		}
	}
	return ""
}

// entSize is the size of a table entry of the class: e64 for ELFCLASS64, e32 otherwise.
func entSize(class elf.Class, e64, e32 any) uint64 {
	if class == elf.ELFCLASS64 {
		return uint64(binary.Size(e64))
	}
	return uint64(binary.Size(e32))
}

// readTable reads n entries of entsize bytes at off; the caller has checked they are in the file.
func readTable(r io.ReaderAt, off, entsize, n uint64) ([]byte, bool) {
	buf := make([]byte, entsize*n)
	_, err := r.ReadAt(buf, int64(off))
	return buf, err == nil
}

type elfProg struct {
	typ         elf.ProgType
	off, filesz uint64
}

func decodeProg(b []byte, bo binary.ByteOrder, class elf.Class) (elfProg, bool) {
	if class == elf.ELFCLASS64 {
		var p elf.Prog64
		if _, err := binary.Decode(b, bo, &p); err != nil {
			return elfProg{}, false
		}
		return elfProg{elf.ProgType(p.Type), p.Off, p.Filesz}, true
	}
	var p elf.Prog32
	if _, err := binary.Decode(b, bo, &p); err != nil {
		return elfProg{}, false
	}
	return elfProg{elf.ProgType(p.Type), uint64(p.Off), uint64(p.Filesz)}, true
}

type elfSection struct {
	typ             elf.SectionType
	off, size, info uint64
}

func decodeSection(b []byte, bo binary.ByteOrder, class elf.Class) (elfSection, bool) {
	if class == elf.ELFCLASS64 {
		var s elf.Section64
		if _, err := binary.Decode(b, bo, &s); err != nil {
			return elfSection{}, false
		}
		return elfSection{elf.SectionType(s.Type), s.Off, s.Size, uint64(s.Info)}, true
	}
	var s elf.Section32
	if _, err := binary.Decode(b, bo, &s); err != nil {
		return elfSection{}, false
	}
	return elfSection{elf.SectionType(s.Type), uint64(s.Off), uint64(s.Size), uint64(s.Info)}, true
}
