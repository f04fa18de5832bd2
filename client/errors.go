package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of an API error, the prefix of the envelope's error
// message.
type Kind string

// The kinds the native API answers with.
const (
	// KindAuthorization: the key is missing, unknown, revoked, lacks the
	// scope of the call, or exceeded its call rate.
	KindAuthorization Kind = "Authorization Error"
	// KindValidation: the request body or a parameter is invalid; Fields
	// lists every problem.
	KindValidation Kind = "Validation Error"
	// KindQuery: what was asked for does not exist, is not the key's, or
	// is not possible in the job's state, or a filter is malformed.
	KindQuery Kind = "Query Error"
	// KindInternal: the server failed; quote GatewayID to an operator.
	KindInternal Kind = "Internal Error"
)

// Error is an answer of the API other than success.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Kind is the envelope's error prefix; empty when the answer was not
	// an envelope (a proxy's error page, say).
	Kind Kind
	// Message is the caller-safe message, without the kind's prefix.
	Message string
	// Fields are the problems of a validation error, one per field.
	Fields []FieldError
	// GatewayID is the request id, to quote to an operator.
	GatewayID string
	// FunctionID names the API function that answered.
	FunctionID string
	// RetryAfter is how long the server asked to wait (429 and 503), or 0.
	RetryAfter time.Duration
}

// FieldError is one problem with one field of a request.
type FieldError struct {
	// Field is the field's path as the request spelled it, e.g. "sleepMs"
	// or "jobs[2].sleepMs".
	Field string
	// Code is the numeric validation code (2001 required, 2007 out of
	// range, 2008 bad e-mail, 2011 invalid value).
	Code int
	// Message says what is wrong with this field.
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "turnout: HTTP %d", e.Status)
	if e.Kind != "" {
		fmt.Fprintf(&b, " %s", e.Kind)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.GatewayID != "" {
		fmt.Fprintf(&b, " (gateway_id %s)", e.GatewayID)
	}
	return b.String()
}

// Sentinels that errors.Is matches an *Error against, by its status.
var (
	// ErrNotFound: no such job, or not the key's (404).
	ErrNotFound = errors.New("turnout: not found")
	// ErrUnauthorized: the key was refused (401, 403).
	ErrUnauthorized = errors.New("turnout: unauthorized")
	// ErrInvalid: the request is malformed or invalid (400, 413, 422).
	ErrInvalid = errors.New("turnout: invalid request")
	// ErrConflict: not possible in the job's state, such as canceling a
	// finished job (409).
	ErrConflict = errors.New("turnout: conflict")
	// ErrRateLimited: the key's call rate or batch size was exceeded (429).
	ErrRateLimited = errors.New("turnout: rate limited")
	// ErrUnavailable: the server or what it depends on is down or timed
	// out; retry later (502, 503, 504).
	ErrUnavailable = errors.New("turnout: unavailable")
)

// Is matches e against the sentinels above.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrInvalid:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge ||
			e.Status == http.StatusUnprocessableEntity
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.Status == http.StatusBadGateway || e.Status == http.StatusServiceUnavailable ||
			e.Status == http.StatusGatewayTimeout
	}
	return false
}

// envelope is the native API's error answer.
type envelope struct {
	Error      *string `json:"error"`
	GatewayID  string  `json:"gateway_id"`
	FunctionID string  `json:"function_id"`
	Errors     []struct {
		Code      int    `json:"code"`
		Details   string `json:"details"`
		FieldName string `json:"fieldName"`
	} `json:"errors"`
}

var kinds = []Kind{KindAuthorization, KindValidation, KindQuery, KindInternal}

// errorFrom reads a non-2xx answer. An answer that is not an envelope
// keeps its status and the start of its text.
func errorFrom(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	var env envelope
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		e.GatewayID = resp.Header.Get("X-Request-Id")
		text := strings.TrimSpace(string(body))
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		e.Message = http.StatusText(resp.StatusCode)
		if text != "" {
			e.Message += ": " + text
		}
		return e
	}
	e.GatewayID, e.FunctionID, e.Message = env.GatewayID, env.FunctionID, *env.Error
	for _, k := range kinds {
		if rest, ok := strings.CutPrefix(e.Message, string(k)); ok {
			e.Kind, e.Message = k, strings.TrimPrefix(strings.TrimPrefix(rest, ":"), " ")
			break
		}
	}
	for _, f := range env.Errors {
		e.Fields = append(e.Fields, FieldError{Field: f.FieldName, Code: f.Code, Message: f.Details})
	}
	return e
}
