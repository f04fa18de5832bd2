package fileload

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// CSVLimits bound one record of a file. encoding/csv holds a whole record
// in memory before it returns it — every physical line of a quoted field,
// and three slice entries per field — so without bounds one record could
// take all of a worker's memory. They are checked on the bytes on their way
// into the parser, before it buffers them.
type CSVLimits struct {
	MaxFieldBytes  int // one field, quoted or not
	MaxRecordBytes int // one record, all its physical lines
	MaxColumns     int // fields in one record
}

// Default CSV limits: a VAN file's widest field is a free-text note or an
// address, its widest record a few hundred columns.
const (
	DefaultMaxFieldBytes  = 64 << 10
	DefaultMaxRecordBytes = 1 << 20
	DefaultMaxColumns     = 1000
)

func (l CSVLimits) orDefaults() CSVLimits {
	if l.MaxFieldBytes <= 0 {
		l.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if l.MaxColumns <= 0 {
		l.MaxColumns = DefaultMaxColumns
	}
	return l
}

// recordCap follows encoding/csv's reading of the stream (where a field,
// a quoted field and a record start and end, with the reader's delimiter
// and LazyQuotes) and fails the read at the first byte past a limit.
type recordCap struct {
	r      io.Reader
	lim    CSVLimits
	comma  byte
	lazy   bool
	state  capState
	line   int64 // physical line of the next byte, from 1
	start  int64 // line the current record started on
	record int   // bytes of the current record
	field  int   // bytes of the current field
	fields int   // fields of the current record
}

type capState uint8

const (
	capBetween  capState = iota // between records (empty lines are skipped)
	capField                    // at the start of a field
	capUnquoted                 // in an unquoted field
	capQuoted                   // in a quoted field
	capQuote                    // a quote in a quoted field: escape, end or bare
	capQuoteCR                  // that quote followed by \r
	capSkip                     // after a quote error: the rest of the line is dropped
)

func newRecordCap(r io.Reader, lim CSVLimits, comma rune, lazy bool) *recordCap {
	return &recordCap{r: r, lim: lim.orDefaults(), comma: byte(comma), lazy: lazy, line: 1}
}

func (c *recordCap) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for _, b := range p[:n] {
		if ferr := c.step(b); ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

// step takes one byte and returns an error once a limit is passed.
func (c *recordCap) step(b byte) error {
	if c.state == capBetween {
		if b == '\n' {
			c.line++
			return nil
		}
		c.state, c.start, c.record, c.field, c.fields = capField, c.line, 0, 0, 1
	}
	c.record++
	if b == '\n' {
		c.line++
	}
	switch c.state {
	case capField:
		c.field = 0
		switch b {
		case '"':
			c.state = capQuoted
			return c.check()
		case c.comma:
			c.fields++
			return c.check()
		case '\n':
			c.state = capBetween
			return nil
		}
		c.state = capUnquoted
		c.field++
	case capUnquoted:
		switch {
		case b == c.comma:
			c.state = capField
			c.fields++
		case b == '\n':
			c.state = capBetween
		case b == '"' && !c.lazy:
			c.state = capSkip // bare quote: encoding/csv drops the rest of the line
		default:
			c.field++
		}
	case capQuoted:
		if b == '"' {
			c.state = capQuote
		} else {
			c.field++
		}
	case capQuote:
		c.quoteThen(b)
	case capQuoteCR:
		switch {
		case b == '\n':
			c.state = capBetween
		case !c.lazy:
			c.state = capSkip
		default:
			// A bare quote and a \r, both data; b is read in the field.
			c.field += 2
			c.state = capQuoted
			if b == '"' {
				c.state = capQuote
			} else {
				c.field++
			}
		}
	case capSkip:
		if b == '\n' {
			c.state = capBetween
		}
	}
	return c.check()
}

// quoteThen takes the byte after a quote inside a quoted field.
func (c *recordCap) quoteThen(b byte) {
	switch {
	case b == '"':
		c.state = capQuoted
		c.field++
	case b == c.comma:
		c.state = capField
		c.fields++
	case b == '\n':
		c.state = capBetween
	case b == '\r':
		c.state = capQuoteCR
	case c.lazy:
		c.state = capQuoted
		c.field += 2 // the bare quote and this byte
	default:
		c.state = capSkip
	}
}

// check fails the read once the current record passes a limit.
func (c *recordCap) check() error {
	switch {
	case c.field > c.lim.MaxFieldBytes:
		return fault.New(fault.Invalid, "file: line %d: field %d is longer than %d bytes (the field limit; is a quote left open?); the file cannot be read further",
			c.line, c.fields, c.lim.MaxFieldBytes)
	case c.record > c.lim.MaxRecordBytes:
		return fault.New(fault.Invalid, "file: line %d: the record starting there is longer than %d bytes (the record limit; is a quote left open?); the file cannot be read further",
			c.start, c.lim.MaxRecordBytes)
	case c.fields > c.lim.MaxColumns:
		return fault.New(fault.Invalid, "file: line %d: the record has more than %d fields (the column limit); the file cannot be read further",
			c.start, c.lim.MaxColumns)
	}
	return nil
}

// reader reads records of the file one at a time.
type reader struct {
	cr      *csv.Reader
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

// newReader wraps r: strips a UTF-8 byte order mark, bounds fields and
// records (lim), and parses with the request's delimiter. Quotes are
// honoured; with hasQuotes false, stray quotes inside fields are accepted
// literally (a field that starts with a quote is still a quoted field, and
// may span lines: the limits hold either way).
func newReader(r io.Reader, f File, lim CSVLimits) *reader {
	br := bufio.NewReaderSize(r, 256<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
	comma, lazy := delimiter(f.ColumnDelimiter), !f.HasQuotes
	cr := csv.NewReader(newRecordCap(br, lim, comma, lazy))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = lazy
	cr.ReuseRecord = true
	return &reader{cr: cr, file: f, columns: len(f.Columns)}
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
		if strings.IndexByte(v, 0) >= 0 {
			return nil, int64(line), &rowError{line: int64(line), message: fmt.Sprintf("field %d contains a NUL byte, which text fields may not hold", i+1)}
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

// checkHeader compares a header record with file.columns. The error
// names the first column that differs, never what the file holds there: a
// file sent with hasHeader true and no header would otherwise put its
// first row in the job's error.
func checkHeader(rec []string, f File) error {
	if len(rec) != len(f.Columns) {
		hint := ""
		if len(rec) == 1 && len(f.Columns) > 1 {
			hint = fmt.Sprintf("; is file.columnDelimiter (%s) right?", f.ColumnDelimiter)
		}
		fields := fmt.Sprintf("%d fields", len(rec))
		if len(rec) == 1 {
			fields = "one field"
		}
		return fault.New(fault.Invalid, "file.hasHeader: the header row has %s, file.columns has %d (%s)%s",
			fields, len(f.Columns), f.columnNames(), hint)
	}
	for i := range rec {
		if !strings.EqualFold(strings.TrimSpace(rec[i]), f.Columns[i].Name) {
			return fault.New(fault.Invalid, "file.hasHeader: field %d of the header row is not %s, file.columns[%d] (the columns are %s)",
				i+1, f.Columns[i].Name, i, f.columnNames())
		}
	}
	return nil
}

func (e *rowError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.message) }

// quotedValue matches a Go-quoted string: row-error messages quote the cell
// they are about that way (%q of clip), and only that way.
var quotedValue = regexp.MustCompile(`\s?"(?:[^"\\]|\\.)*"`)

// withoutValues is a row error as it may leave the row-error store (in the
// job's error, logs, the queue's task): line, column and rule, with every
// quoted cell value taken out. The row errors themselves and the error file
// keep the values: they are shown to the file's owner only.
func withoutValues(e storage.RowError) string {
	msg := strings.TrimSpace(quotedValue.ReplaceAllString(e.Message, ""))
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, msg)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, msg)
}
