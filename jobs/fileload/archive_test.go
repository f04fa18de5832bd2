package fileload

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/fault"
)

func spool(t *testing.T, b []byte) (*os.File, int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	_, _ = f.Write(b)
	return f, int64(len(b))
}

// A zip whose headers understate the entry's size must still be stopped:
// the bytes actually inflated are counted.
func TestZipEntryThatLiesAboutItsSizeIsStopped(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("a.csv")
	_, _ = w.Write(bytes.Repeat([]byte("1,2\n"), 1<<18)) // 1 MiB, compresses ~1000:1
	_ = zw.Close()
	b := buf.Bytes()
	// Rewrite the uncompressed size in the central directory to 100 bytes.
	cd := bytes.LastIndex(b, []byte("PK\x01\x02"))
	binary.LittleEndian.PutUint32(b[cd+24:], 100)
	f, size := spool(t, b)
	rc, err := openData(f, size, "a.csv", ZipLimits{MaxUncompressed: 1 << 30, MaxRatio: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, rc)
	if err == nil || !strings.Contains(err.Error(), "zip bomb") && !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("reading past the declared size: err = %v, want it stopped", err)
	}
}

func TestPlainFileIsReadAsIs(t *testing.T) {
	f, size := spool(t, []byte("a,b\n1,2\n"))
	rc, err := openData(f, size, "whatever.csv", ZipLimits{MaxUncompressed: 1 << 20, MaxRatio: 100})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	if string(b) != "a,b\n1,2\n" {
		t.Errorf("read %q", b)
	}
}

func TestReaderHandlesDelimitersBOMAndCRLF(t *testing.T) {
	for _, tc := range []struct {
		delim, in string
	}{
		{DelimCsv, "\xef\xbb\xbfid,score\r\n1,\"2\"\r\n"},
		{DelimTab, "id\tscore\n1\t2\n"},
		{DelimPipe, "id|score\n1|2\n"},
	} {
		f := File{ColumnDelimiter: tc.delim, HasQuotes: true, Columns: []Column{{"id"}, {"score"}}}
		r := newReader(strings.NewReader(tc.in), f, CSVLimits{})
		head, _, err := r.next(true)
		if err != nil || checkHeader(head, f) != nil {
			t.Fatalf("%s: header %q err %v", tc.delim, head, err)
		}
		rec, line, err := r.next(false)
		if err != nil || line != 2 || rec[0] != "1" || rec[1] != "2" {
			t.Errorf("%s: %q line %d err %v", tc.delim, rec, line, err)
		}
	}
}

func TestAutoApprovalBoundaries(t *testing.T) {
	c := &ApprovalCriteria{Average: 75.2, Tolerance: 1.3}
	for obs, want := range map[float64]bool{73.9: true, 76.5: true, 75.2: true, 73.89: false, 76.51: false} {
		if got := autoApproved(c, &obs); got != want {
			t.Errorf("observed %v: approved %v, want %v (VAN's example: [73.9, 76.5])", obs, got, want)
		}
	}
	if autoApproved(c, nil) || autoApproved(nil, new(float64)) {
		t.Error("approved without an average or without criteria")
	}
}

func zipOfEntries(t *testing.T, n int, name func(i int) string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name(i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("1,2\n"))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// An archive with more entries than the limit is refused before its
// directory is read into memory, even when its end record understates the
// count (the 16-bit count wraps at 65,536).
func TestZipWithTooManyEntriesIsRefused(t *testing.T) {
	b := zipOfEntries(t, 12, func(i int) string { return fmt.Sprintf("e%d.csv", i) })
	eocd := bytes.LastIndex(b, []byte("PK\x05\x06"))
	binary.LittleEndian.PutUint16(b[eocd+8:], 1)
	binary.LittleEndian.PutUint16(b[eocd+10:], 1)
	f, size := spool(t, b)
	_, err := openData(f, size, "e1.csv", ZipLimits{MaxUncompressed: 1 << 20, MaxRatio: 100, MaxEntries: 10})
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "more than 10 entries (the entry limit)") {
		t.Fatalf("12 entries with a limit of 10: %v, want the entry limit named", err)
	}
	f, size = spool(t, zipOfEntries(t, 10, func(i int) string { return fmt.Sprintf("e%d.csv", i) }))
	if _, err := openData(f, size, "e1.csv", ZipLimits{MaxUncompressed: 1 << 20, MaxRatio: 100, MaxEntries: 10}); err != nil {
		t.Fatalf("10 entries with a limit of 10: %v, want the entry opened", err)
	}
}

// Without file.fileName the error lists a few entries and counts the rest,
// whatever the names: the text stays short.
func TestZipWithoutFileNameListsAFewEntries(t *testing.T) {
	long := strings.Repeat("n", 5000)
	f, size := spool(t, zipOfEntries(t, 900, func(i int) string { return fmt.Sprintf("%s%d.csv", long, i) }))
	_, err := openData(f, size, "", ZipLimits{MaxUncompressed: 1 << 20, MaxRatio: 100})
	msg := fault.As(err).Message
	if !strings.Contains(msg, "has 900 files") || !strings.Contains(msg, "and 895 more") || len(msg) > 600 {
		t.Fatalf("error of %d bytes: %.300s…; want under 600 bytes naming 900 files and 895 more", len(msg), msg)
	}
}
