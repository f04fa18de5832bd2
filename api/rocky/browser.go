package rocky

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Browser integrations call Rocky's public endpoints from other origins,
// so those endpoints answer every origin (they take no cookie and no
// credential a page could leak) and handle the CORS preflight, with the
// same headers Rocky sends.
const corsMaxAge = "1728000"

// cors marks a public endpoint's answers, errors included, as readable by
// any origin.
func cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, "*")
		return next(c)
	}
}

// preflight answers OPTIONS on a public endpoint: 204, the methods Rocky
// allows and whatever request headers the browser asks to send.
func preflight(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderAccessControlAllowOrigin, "*")
	h.Set(echo.HeaderAccessControlAllowMethods, "POST, GET, OPTIONS")
	allow := c.Request().Header.Get(echo.HeaderAccessControlRequestHeaders)
	if allow == "" {
		allow = "*"
	}
	h.Set(echo.HeaderAccessControlAllowHeaders, allow)
	h.Set(echo.HeaderAccessControlMaxAge, corsMaxAge)
	return c.NoContent(http.StatusNoContent)
}

// isForm reports whether the request body is form-encoded (what jQuery's
// $.post and an HTML form send).
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	return mt == echo.MIMEApplicationForm
}

// formObject reads a form body the way Rails builds params:
// "registration[first_name]=Ada" is the field first_name of the object
// registration, "a[b][c]=1" nests further and "a[]=1&a[]=2" is a list.
// The result is a JSON object, so form and JSON bodies share one decoder.
func formObject(raw []byte) (json.RawMessage, error) {
	values, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, fault.New(fault.Invalid, "the body is not valid form encoding")
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	top := map[string]any{}
	for _, name := range names {
		path := railsPath(name)
		for _, v := range values[name] {
			if err := put(top, path, formString(v)); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(top)
}

// railsPath splits "registration[home][city]" into its keys; "[]" is an
// empty key, meaning "append".
func railsPath(name string) []string {
	i := strings.IndexByte(name, '[')
	if i <= 0 || !strings.HasSuffix(name, "]") {
		return []string{name}
	}
	return append([]string{name[:i]}, strings.Split(name[i+1:len(name)-1], "][")...)
}

func put(obj map[string]any, path []string, v any) error {
	k := path[0]
	if len(path) == 1 {
		obj[k] = v
		return nil
	}
	if path[1] == "" { // "a[]": a list of values
		list, _ := obj[k].([]any)
		obj[k] = append(list, v)
		return nil
	}
	child, ok := obj[k].(map[string]any)
	if !ok {
		if obj[k] != nil {
			return fault.Validation(fault.FieldError{Field: k, Code: fault.CodeInvalidValue, Message: "Invalid parameter type"})
		}
		child = map[string]any{}
		obj[k] = child
	}
	return put(child, path[1:], v)
}

// formString keeps a form value's text. Invalid UTF-8 cannot be marshalled
// as it is (encoding/json would replace it silently), so it becomes a raw
// JSON string with an invalid byte, which validation refuses naming the
// field, as it does the same bytes in a JSON body.
func formString(v string) any {
	if utf8.ValidString(v) {
		return v
	}
	return json.RawMessage([]byte{'"', 0xff, '"'})
}
