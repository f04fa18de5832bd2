package rocky

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
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

// formObject reads a form body the way Rails (Rack) builds params, in the
// order the fields come: "registration[first_name]=Ada" is the field
// first_name of the object registration, "a[b][c]=1" nests further,
// "a[]=1&a[]=2" is a list, and "a[][b]=1&a[][c]=2&a[][b]=3" is a list of
// objects, a new one starting whenever a field repeats
// ([{"b":"1","c":"2"},{"b":"3"}]). The result is a JSON object, so form
// and JSON bodies share one decoder.
func formObject(raw []byte) (json.RawMessage, error) {
	top := map[string]any{}
	for _, part := range strings.Split(string(raw), "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		name, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, fault.New(fault.Invalid, "the body is not valid form encoding")
		}
		if name == "" {
			continue
		}
		if err := put(top, railsPath(name), formString(value)); err != nil {
			return nil, err
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

// put sets path to v in obj. A name used both as a value and as an object
// or list ("a=1&a[b]=2") is refused naming it, as Rails refuses it.
func put(obj map[string]any, path []string, v any) error {
	k := path[0]
	conflict := fault.Validation(fault.FieldError{Field: k, Code: fault.CodeInvalidValue, Message: "Invalid parameter type"})
	if len(path) == 1 {
		obj[k] = v
		return nil
	}
	if path[1] == "" { // "a[]" or "a[][b]": a list
		list, ok := obj[k].([]any)
		if !ok && obj[k] != nil {
			return conflict
		}
		rest := path[2:]
		if len(rest) == 0 {
			obj[k] = append(list, v)
			return nil
		}
		// Rack fills the last object of the list until a field repeats.
		if n := len(list); n > 0 {
			if last, ok := list[n-1].(map[string]any); ok && !has(last, rest) {
				return put(last, rest, v)
			}
		}
		child := map[string]any{}
		obj[k] = append(list, child)
		return put(child, rest, v)
	}
	child, ok := obj[k].(map[string]any)
	if !ok {
		if obj[k] != nil {
			return conflict
		}
		child = map[string]any{}
		obj[k] = child
	}
	return put(child, path[1:], v)
}

// has reports whether obj already holds path (a list counts as holding
// anything appended to it).
func has(obj map[string]any, path []string) bool {
	for i, k := range path {
		if k == "" {
			return false
		}
		v, ok := obj[k]
		if !ok {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		if obj, ok = v.(map[string]any); !ok {
			return true
		}
	}
	return false
}

// indexedList reads the list jQuery's $.post makes of an array of objects,
// "registrants[0][lang]=en&registrants[1][lang]=es": Rails receives an
// object keyed by position and reads it as a list in index order. ok is
// false when raw is not such an object.
func indexedList(raw json.RawMessage) (json.RawMessage, bool) {
	var byIndex map[string]json.RawMessage
	if json.Unmarshal(raw, &byIndex) != nil || len(byIndex) == 0 {
		return nil, false
	}
	type item struct {
		i int
		v json.RawMessage
	}
	items := make([]item, 0, len(byIndex))
	for k, v := range byIndex {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || strconv.Itoa(i) != k {
			return nil, false
		}
		items = append(items, item{i, v})
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	list := make([]json.RawMessage, len(items))
	for n, it := range items {
		list[n] = it.v
	}
	out, err := json.Marshal(list)
	return out, err == nil
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
