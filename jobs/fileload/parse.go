package fileload

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/turnoutdev/turnout/internal/fault"
)

// maxRecordBytes bounds one physical line: encoding/csv buffers a whole
// record, so without a bound one huge field would take the worker's memory.
const maxRecordBytes = 1 << 20

var errLineTooLong = errors.New("line too long")

// lineCap fails when a line runs longer than max bytes.
type lineCap struct {
	r     *bufio.Reader
	run   int
	max   int
	lines int64
}

func (l *lineCap) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	b := p[:n]
	first := bytes.IndexByte(b, '\n')
	if first < 0 {
		if l.run += n; l.run > l.max {
			return 0, errLineTooLong
		}
		return n, err
	}
	// Only the first line of b continues an earlier one; the others are
	// bounded by the read itself unless they run to its end.
	last := bytes.LastIndexByte(b, '\n')
	if l.run+first > l.max || n-last-1 > l.max || (n > l.max && longLine(b[first+1:last+1], l.max)) {
		return 0, errLineTooLong
	}
	l.lines += int64(bytes.Count(b, []byte{'\n'}))
	l.run = n - last - 1
	return n, err
}

// longLine tells whether b, whole lines, has one longer than max bytes.
func longLine(b []byte, max int) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i > max {
			return true
		}
		b = b[i+1:]
	}
	return false
}

// reader reads records of the file one at a time.
type reader struct {
	cr      *csv.Reader
	lc      *lineCap
	file    File
	columns int
}

func delimiter(d string) rune {
	switch d {
	case DelimTab:
		return '\t'
	case DelimPipe:
		return '|'
	}
	return ','
}

// newReader wraps r: strips a UTF-8 byte order mark, bounds line length,
// and parses with the request's delimiter. Quotes are honoured; with
// hasQuotes false, stray quotes inside fields are accepted literally.
func newReader(r io.Reader, f File) *reader {
	br := bufio.NewReaderSize(r, 256<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
	lc := &lineCap{r: br, max: maxRecordBytes}
	cr := csv.NewReader(lc)
	cr.Comma = delimiter(f.ColumnDelimiter)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = !f.HasQuotes
	cr.ReuseRecord = true
	return &reader{cr: cr, lc: lc, file: f, columns: len(f.Columns)}
}

// rowError is a problem with one record that does not stop the load.
type rowError struct {
	line    int64
	message string
}

// next returns the next record and its line, a *rowError for a record that
// cannot be used, io.EOF at the end, or a fault for a file that cannot be
// read any further.
func (r *reader) next(header bool) ([]string, int64, error) {
	rec, err := r.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		if errors.Is(err, errLineTooLong) {
			return nil, 0, fault.New(fault.Invalid, "file: line %d or a field in it is longer than %d bytes; the file cannot be read further", r.lc.lines+1, maxRecordBytes)
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, int64(pe.StartLine), &rowError{line: int64(pe.StartLine), message: csvReason(pe)}
		}
		if fe := fault.As(err); fe.Kind == fault.Invalid {
			return nil, 0, fe
		}
		return nil, 0, fmt.Errorf("read file: %w", err)
	}
	line, _ := r.cr.FieldPos(0)
	if len(rec) != r.columns && !header {
		return nil, int64(line), &rowError{line: int64(line), message: fmt.Sprintf("has %d fields, want %d (file.columns); check the delimiter and quoting", len(rec), r.columns)}
	}
	for i, v := range rec {
		if !utf8.ValidString(v) {
			return nil, int64(line), &rowError{line: int64(line), message: fmt.Sprintf("field %d is not valid UTF-8; the file must be UTF-8 encoded", i+1)}
		}
	}
	return rec, int64(line), nil
}

func csvReason(pe *csv.ParseError) string {
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Sprintf("unterminated or misplaced quote at line %d, column %d", pe.Line, pe.Column)
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Sprintf("bare quote in an unquoted field at line %d, column %d", pe.Line, pe.Column)
	}
	return pe.Err.Error()
}

// checkHeader compares a header record with file.columns.
func checkHeader(rec []string, f File) error {
	ok := len(rec) == len(f.Columns)
	for i := 0; ok && i < len(rec); i++ {
		ok = strings.EqualFold(strings.TrimSpace(rec[i]), f.Columns[i].Name)
	}
	if ok {
		return nil
	}
	hint := ""
	if len(rec) == 1 && len(f.Columns) > 1 {
		hint = fmt.Sprintf("; the header has one field: is file.columnDelimiter (%s) right?", f.ColumnDelimiter)
	}
	return fault.New(fault.Invalid, "file.hasHeader: the header row (%s) does not match file.columns (%s)%s",
		strings.Join(trimAll(rec), ", "), f.columnNames(), hint)
}

func trimAll(rec []string) []string {
	out := make([]string, len(rec))
	for i, s := range rec {
		s = strings.TrimSpace(s)
		if len(s) > 40 || !utf8.ValidString(s) {
			s = strings.ToValidUTF8(s[:min(len(s), 40)], "?") + "…"
		}
		out[i] = s
	}
	return out
}

func (e *rowError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.message) }
