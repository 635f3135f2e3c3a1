package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// hashPrefixLen is how many hex digits of a SHA-256 a Change carries.
const hashPrefixLen = 12

// errNotRegular is returned by readContent for a path that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// content is what readContent saw of a file.
type content struct {
	size int64
	hash string // hex SHA-256 of the whole content
	info fs.FileInfo
	// unstable reports that the file changed while it was read.
	unstable bool
	// incomplete says why the file is an ELF file still being written; "" if it is complete or
	// not ELF.
	incomplete string
}

// readContent hashes the regular file at path and checks that it is complete.
func readContent(path string) (content, error) {
	// Stat before opening so that a FIFO on the path never blocks us.
	if fi, err := os.Stat(path); err != nil {
		return content{}, err
	} else if !fi.Mode().IsRegular() {
		return content{}, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return content{}, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return content{}, err
	}
	if !before.Mode().IsRegular() {
		return content{}, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return content{}, fmt.Errorf("read %s: %w", path, err)
	}
	after, err := f.Stat()
	if err != nil {
		return content{}, err
	}
	c := content{
		size:     n,
		hash:     hex.EncodeToString(h.Sum(nil)),
		info:     after,
		unstable: n != before.Size() || !sameStat(before, after),
	}
	if !c.unstable {
		c.incomplete = elfIncomplete(f, n)
	}
	return c, nil
}

// sameStat reports whether a and b describe the same file with the same size and modification
// time: as far as stat can tell, nothing has been written between them.
func sameStat(a, b fs.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func shortHash(h string) string {
	if len(h) < hashPrefixLen {
		return h
	}
	return h[:hashPrefixLen]
}
