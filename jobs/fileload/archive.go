package fileload

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/turnoutdev/turnout/internal/fault"
)

// ZipLimits bound what a zip may expand to. Both the sizes the archive
// declares and the bytes actually inflated are checked: headers can lie.
type ZipLimits struct {
	MaxUncompressed int64   // bytes, per entry
	MaxRatio        float64 // uncompressed / compressed
	// MaxEntries bounds the entries of an archive: archive/zip keeps every
	// entry of the central directory in memory (hundreds of bytes each).
	MaxEntries int
}

// DefaultMaxZipEntries is far more than a file load's archive holds (one
// CSV, sometimes a few) and keeps the directory's memory under a megabyte.
const DefaultMaxZipEntries = 1000

// openData returns the CSV stream of a spooled source: the named (or only)
// entry of a zip, or the file itself when it is not a zip.
func openData(f *os.File, size int64, fileName string, lim ZipLimits) (io.ReadCloser, error) {
	head := make([]byte, 4)
	n, _ := f.ReadAt(head, 0)
	if n < 4 || !bytes.Equal(head, []byte("PK\x03\x04")) {
		if n >= 2 && bytes.Equal(head[:2], []byte("PK")) {
			// Empty or spanned archives start "PK\x05\x06" / "PK\x07\x08".
			return nil, fault.New(fault.Invalid, "file: the zip archive is empty or not a single-part archive")
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return io.NopCloser(f), nil
	}
	if lim.MaxEntries <= 0 {
		lim.MaxEntries = DefaultMaxZipEntries
	}
	if n, err := zipEntriesAtMost(f, size, lim.MaxEntries); err != nil {
		return nil, err
	} else if n > lim.MaxEntries {
		return nil, fault.New(fault.Invalid, "file: the zip archive has more than %d entries (the entry limit)", lim.MaxEntries)
	}
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "file: not a readable zip archive (%s)", zipReason(err))
	}
	var files []*zip.File
	var names []string
	for _, zf := range zr.File {
		if !zf.FileInfo().IsDir() {
			files = append(files, zf)
			names = append(names, zf.Name)
		}
	}
	var entry *zip.File
	for _, zf := range files {
		if fileName != "" && (zf.Name == fileName || strings.EqualFold(path.Base(zf.Name), fileName)) {
			entry = zf
			break
		}
	}
	switch {
	case entry != nil:
	case len(files) == 1:
		// Decision: a single-entry zip is loaded whatever its entry is
		// called (clients name the entry after a temporary file).
		entry = files[0]
	case len(files) == 0:
		return nil, fault.New(fault.Invalid, "file: the zip archive has no files")
	case fileName == "":
		return nil, fault.New(fault.Invalid, "file.fileName: the zip archive has %d files (%s); name the one to load", len(files), someNames(names))
	default:
		return nil, fault.New(fault.Invalid, "file.fileName: %q is not in the zip archive (it has %s)", fileName, someNames(names))
	}
	if entry.Flags&0x1 != 0 {
		return nil, fault.New(fault.Invalid, "file: zip entry %q is encrypted; upload it without a password", clip(entry.Name))
	}
	declared := int64(entry.UncompressedSize64)
	if declared > lim.MaxUncompressed {
		return nil, fault.New(fault.Invalid, "file: zip entry %q expands to %d bytes, more than the %d-byte limit", clip(entry.Name), declared, lim.MaxUncompressed)
	}
	if c := int64(entry.CompressedSize64); c > 0 && float64(declared)/float64(c) > lim.MaxRatio {
		return nil, fault.New(fault.Invalid, "file: zip entry %q has a compression ratio of %.0f:1, above the %.0f:1 limit (zip bomb?)", clip(entry.Name), float64(declared)/float64(c), lim.MaxRatio)
	}
	rc, err := entry.Open()
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "file: cannot open zip entry %q (%s)", clip(entry.Name), zipReason(err))
	}
	limit := min(lim.MaxUncompressed, int64(float64(max(int64(entry.CompressedSize64), 1))*lim.MaxRatio))
	return &inflateCap{rc: rc, left: limit, name: clip(entry.Name)}, nil
}

// zipEntriesAtMost returns an upper bound of the entries archive/zip would
// read from the archive, counting at most max+1: every central directory
// header starts with its signature, so no reader finds more entries than
// the signature occurs. Headers can lie about the count; the bytes cannot.
func zipEntriesAtMost(f *os.File, size int64, max int) (int, error) {
	sig := []byte("PK\x01\x02")
	buf := make([]byte, 1<<20)
	n, carry := 0, 0
	for off := int64(0); off < size && n <= max; {
		k, err := f.ReadAt(buf[carry:], off)
		if k == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, fmt.Errorf("read zip archive: %w", err)
		}
		off += int64(k)
		chunk := buf[:carry+k]
		n += bytes.Count(chunk, sig)
		// A signature split by the chunk's end is counted with the next.
		carry = min(len(sig)-1, len(chunk))
		copy(buf, chunk[len(chunk)-carry:])
	}
	return n, nil
}

// someNames lists the first few entry names of an archive and says how many
// more there are: an error text stays short whatever the archive holds.
func someNames(names []string) string {
	const shown = 5
	out := make([]string, 0, shown+1)
	for i, n := range names {
		if i == shown {
			out = append(out, fmt.Sprintf("and %d more", len(names)-shown))
			break
		}
		out = append(out, clip(n))
	}
	return strings.Join(out, ", ")
}

func zipReason(err error) string {
	switch {
	case errors.Is(err, zip.ErrFormat):
		return "bad format"
	case errors.Is(err, zip.ErrAlgorithm):
		return "unsupported compression method"
	case errors.Is(err, zip.ErrChecksum):
		return "checksum mismatch"
	}
	return "corrupt"
}

// inflateCap stops an entry that inflates beyond what its header and the
// ratio limit allow.
type inflateCap struct {
	rc   io.ReadCloser
	left int64
	name string
}

func (c *inflateCap) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One more byte tells a file of exactly the limit from a bomb.
		var one [1]byte
		if n, _ := c.rc.Read(one[:]); n > 0 {
			return 0, fault.New(fault.Invalid, "file: zip entry %q expands beyond its declared size or the ratio limit (zip bomb?)", c.name)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fault.Wrap(fault.Invalid, err, "file: zip entry %q is corrupt (%s)", c.name, zipReason(err))
	}
	return n, err
}

func (c *inflateCap) Close() error { return c.rc.Close() }
