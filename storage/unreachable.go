package storage

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unreachable reports whether err, returned by a Store method, means
// PostgreSQL itself is out of reach rather than that the statement failed:
// no connection could be made (refused, timed out, the server starting up
// or shutting down), or the server went away in the middle of a reply. Such
// a failure is worth retrying once the server is back; the statement was
// not the problem.
//
// The I/O errors it accepts (an unexpected EOF, a reset or closed
// connection) are what pgx returns when the socket under a pooled
// connection dies, so the answer is only meaningful for errors that came
// from PostgreSQL calls.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08 is "connection exception"; 57P01-57P03 are the server
		// being shut down (admin, crash) or not accepting connections yet.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
