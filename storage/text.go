package storage

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// Text written to PostgreSQL from what users send (job errors, row errors,
// load messages) goes through ValidText, and JSON through validJSON: a
// text column refuses NUL bytes and invalid UTF-8 outright, and one such
// value would otherwise fail the statement carrying it — and every other
// row of a batch, or every job after it in a loop.

// MaxErrorText bounds a job's error text: the error is shown in job views,
// logs and the queue dashboard, none of which is the place for megabytes.
const MaxErrorText = 4096

// ValidText returns s with NUL bytes and bytes that are not UTF-8 written
// as \x00-style escapes, which PostgreSQL stores and a reader can still
// recognise. Valid text is returned unchanged without copying.
func ValidText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1, r == 0:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// ErrorText is ValidText cut to MaxErrorText bytes, saying how much was
// left out.
func ErrorText(s string) string {
	return ClipText(ValidText(s), MaxErrorText)
}

// ClipText cuts s to at most limit bytes on a rune boundary, ending it with
// a note of how many bytes were left out.
func ClipText(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	note := fmt.Sprintf("… (%d more bytes)", len(s)-limit)
	cut := limit - len(note)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + note
}

// validJSON returns JSON that PostgreSQL's jsonb accepts: it refuses the
// escape \u0000, which encoding/json writes for a NUL in a string; each is
// replaced by \ufffd. An escaped backslash before "u0000" is left alone.
func validJSON(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if bytes.HasPrefix(b[i:], []byte(`\u0000`)) {
			out = append(out, `\ufffd`...)
			i += 5
			continue
		}
		// Any other escape is copied whole, so its second byte is never
		// taken for the start of one.
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}

// IsRejectedData reports whether PostgreSQL refused a statement for the
// values it carried (a data exception, a constraint, a value too large),
// as opposed to a connection or server failure that a retry may outlive.
// A batch refused so is written again item by item to find the one at fault.
func IsRejectedData(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}
