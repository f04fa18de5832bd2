package rocky

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/api/middleware"
	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/jobs/registration"
)

// Bulk answers POST registrations/bulk: a JSON list of records, or
// {"registrants": [...]} with the credentials beside it.
func (h *Handler) Bulk(c echo.Context) error {
	records, err := decodeList(c, "registrants")
	if err != nil {
		return err
	}
	res, err := h.bulk(c, records, "bulk")
	if err != nil {
		return err
	}
	if res.Errors != nil {
		return respond(c, http.StatusBadRequest, bulkErrors(res.Errors))
	}
	// Rocky's API documentation names the count abandoned_registrations; its code
	// registrants_added. Both are sent.
	return respond(c, http.StatusOK, map[string]any{"abandoned_registrations": res.Written, "registrants_added": res.Written})
}

// BulkGRegistrations answers POST bulk_gregistrations.json.
func (h *Handler) BulkGRegistrations(c echo.Context) error {
	records, err := decodeList(c, "bulk_gregistrations")
	if err != nil {
		return err
	}
	res, err := h.bulk(c, records, "bulk_gregistration")
	if err != nil {
		return err
	}
	if res.Errors != nil {
		return respond(c, http.StatusBadRequest, bulkErrors(res.Errors))
	}
	return respond(c, http.StatusOK, map[string]any{"bulk_gregistrations": res.Written})
}

func (h *Handler) bulk(c echo.Context, records []registration.Input, kind string) (*registration.BulkResult, error) {
	if len(records) == 0 {
		return nil, fault.New(fault.Invalid, "no registrations given")
	}
	if err := middleware.CheckBatch(c, len(records)); err != nil {
		return nil, err
	}
	k := middleware.Key(c)
	return h.Service.Bulk(c.Request().Context(), *k.RockyPartnerID, records, kind)
}

// maxBulkBody bounds a bulk body: the batch size caps the records, this
// their bytes (about 8 KiB a record at the largest default batch).
const maxBulkBody = 8 << 20

func bulkErrors(errs []*registration.BulkError) []any {
	out := make([]any, len(errs))
	for i, e := range errs {
		if e == nil {
			out[i] = map[string]any{}
		} else {
			out[i] = e
		}
	}
	return out
}

// decodeList reads a JSON array of objects, or an object holding one
// under key; a form body holds it as Rails reads a list of objects
// (key[][field]=value, or key[0][field]=value as jQuery sends it).
func decodeList(c echo.Context, key string) ([]registration.Input, error) {
	raw, err := readBody(c, maxBulkBody)
	if err != nil {
		return nil, err
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			return nil, fault.New(fault.Invalid, "the body must be a JSON list of registrations or an object with %q", key)
		}
		for k := range top {
			if k != key && k != "partner_id" && k != "partner_API_key" && k != "callback" {
				return nil, syntaxError(k)
			}
		}
		raw = top[key]
	}
	form := isForm(c.Request())
	if form {
		if l, ok := indexedList(raw); ok {
			raw = l
		}
	}
	var list []registration.Input
	if err := json.Unmarshal(raw, &list); err != nil {
		if form {
			// A form can say a list of objects only as Rails reads one.
			return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeInvalidValue,
				Message: fmt.Sprintf("Must be a list of registration objects: %s[][field]=value or %s[0][field]=value", key, key)})
		}
		return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeInvalidValue,
			Message: "Must be a JSON list of registration objects"})
	}
	for _, in := range list {
		if in == nil {
			return nil, fault.Validation(fault.FieldError{Field: key, Code: fault.CodeInvalidValue,
				Message: "Must be a JSON list of registration objects"})
		}
	}
	return list, nil
}
