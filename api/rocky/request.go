package rocky

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs/registration"
)

// checkParams rejects query parameters the endpoint does not define, with
// Rocky's syntax error. "_" is jQuery's JSONP cache buster.
func checkParams(c echo.Context, allowed ...string) error {
	names := make([]string, 0)
	for k := range c.QueryParams() {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if k != "callback" && k != "_" && !slices.Contains(allowed, k) {
			return syntaxError(k)
		}
	}
	return nil
}

func syntaxError(field string) error {
	return fault.Validation(fault.FieldError{Field: field, Code: fault.CodeInvalidValue, Message: registration.InvalidParameterType})
}

// maxBody bounds a Rocky request body other than bulk's.
const maxBody = 4 << 20

// readBody reads a request body of up to limit bytes; a form-encoded body
// is turned into the JSON object Rails would have made of it.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(c.Request().Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fault.New(fault.Invalid, "request body too large")
	}
	if isForm(c.Request()) {
		return formObject(raw)
	}
	return raw, nil
}

// decodeObject reads a JSON (or form-encoded) object body, returning the
// object under key. Values stay raw so validation sees what the client
// sent.
func decodeObject(c echo.Context, key string) (registration.Input, error) {
	raw, err := readBody(c, maxBody)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fault.New(fault.Invalid, "the body must be a JSON object with the fields nested under %q", key)
	}
	if cb := top["callback"]; cb != nil {
		var s string
		if json.Unmarshal(cb, &s) == nil {
			c.Set(callbackKey, s)
		}
	}
	inner, ok := top[key]
	if !ok {
		return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeRequired,
			Message: fmt.Sprintf("Required: post the fields nested under %q", key)})
	}
	var in registration.Input
	if err := json.Unmarshal(inner, &in); err != nil || in == nil {
		return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeInvalidValue, Message: "Must be a JSON object"})
	}
	if cb := in["callback"]; cb != nil {
		var s string
		if json.Unmarshal(cb, &s) == nil && s != "" {
			c.Set(callbackKey, s)
		}
	}
	return in, nil
}
