// Package fault is Turnout's one error type.
//
// Domain code returns *Error values that carry a Kind and a message that is
// safe to show to the caller. Each API surface renders them in its own shape
// in one place (api.renderError and the per-surface renderers); any other
// error reaches the caller only as a plain internal error carrying the request
// id, while its details go to the log. Messages must never contain secrets
// or personal data.
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error; surfaces map kinds to status codes.
type Kind string

const (
	Unauthorized Kind = "unauthorized" // no or bad credentials
	Forbidden    Kind = "forbidden"    // credentials fine, service not configured for the key
	Invalid      Kind = "invalid"      // a request or row failed validation
	Query        Kind = "query"        // a malformed query (bad filter, bad paging)
	NotFound     Kind = "not_found"
	Conflict     Kind = "conflict"
	RateLimited  Kind = "rate_limited"
	Timeout      Kind = "timeout"
	Unavailable  Kind = "unavailable" // a dependency (PostgreSQL, Redis) is down
	Internal     Kind = "internal"
)

// Salsa validation codes (Salsa Engage's), used where a surface has none of its own.
const (
	CodeRequired     = 2001
	CodeOutOfRange   = 2007
	CodeInvalidEmail = 2008
	CodeInvalidValue = 2011
)

// FieldError is one problem with one field of a request.
type FieldError struct {
	Field   string // dotted path as the client spelled it, e.g. "file.sourceUrl"
	Code    int    // one of the Code* constants
	Message string
}

// Error is a classified, caller-safe error.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError // for Invalid: every problem found, not just the first
	Err     error        // the cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a caller-safe message.
func New(k Kind, format string, a ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, a...)}
}

// Wrap classifies err, keeping it as the cause.
func Wrap(k Kind, err error, format string, a ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, a...), Err: err}
}

// Validation returns an Invalid error listing every field problem.
func Validation(fields ...FieldError) *Error {
	msg := "invalid request"
	if len(fields) > 0 {
		msg = fields[0].Field + ": " + fields[0].Message
		if len(fields) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(fields)-1)
		}
	}
	return &Error{Kind: Invalid, Message: msg, Fields: fields}
}

// As returns the *Error in err's chain, or an Internal error wrapping err.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Message: "internal error", Err: err}
}

// KindOf returns the kind of err, Internal for errors that are not ours.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is one of ours of kind k.
func Is(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
