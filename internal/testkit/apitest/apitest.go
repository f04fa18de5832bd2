// Package apitest checks real HTTP exchanges against api/openapi/openapi/openapi.yaml, so the
// contract cannot drift from the behaviour: every test that calls the API
// through Client validates each response it gets.
package apitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/turnoutdev/turnout/api/openapi"
)

var (
	once    sync.Once
	router  routers.Router
	spec    *openapi3.T
	loadErr error
)

func load() (routers.Router, error) {
	once.Do(func() {
		// Pages and documents are checked for status and content type; their
		// bodies are text, not JSON to decode.
		for _, ct := range []string{"text/html", "application/yaml", "application/pdf", "text/csv", "text/event-stream"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(openapi.Spec)
		if err != nil {
			loadErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			loadErr = err
			return
		}
		doc.Servers = nil // match any host: tests run on random ports
		spec = doc
		router, loadErr = gorillamux.NewRouter(doc)
	})
	return router, loadErr
}

// Check validates one response against the document: the route and method
// must be documented, and the status, content type and body must match.
func Check(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	r, err := load()
	if err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	// Route matching ignores the query and host; documented paths are
	// lower-case where the surface matches case-insensitively. HEAD is
	// documented once, as GET: its answer is GET's without the body.
	rr := req.Clone(context.Background())
	if rr.Method == http.MethodHead {
		rr.Method = http.MethodGet
		if len(body) != 0 {
			t.Errorf("HEAD %s answered with a body of %d bytes", req.URL.Path, len(body))
		}
		body = nil
	}
	route, params, err := r.FindRoute(rr)
	if err != nil {
		rr.URL.Path = strings.ToLower(rr.URL.Path)
		if route, params, err = r.FindRoute(rr); err != nil {
			route, err = unroutedRoute(rr, resp.StatusCode, err)
			if err != nil {
				t.Fatalf("%s %s is not in openapi.yaml: %v", req.Method, req.URL.Path, err)
			}
		}
	}
	if req.Method == http.MethodHead {
		checkHead(t, req, route, resp)
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request: rr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %.500s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

// unroutedRoute is the documented answer to a path the document has not
// (404) or a method its path has not (405): the response component that
// x-surfaces names for the surface owning the path's longest prefix.
func unroutedRoute(req *http.Request, status int, findErr error) (*routers.Route, error) {
	var which string
	switch {
	case errors.Is(findErr, routers.ErrPathNotFound) && status == http.StatusNotFound:
		which = "notFound"
	case errors.Is(findErr, routers.ErrMethodNotAllowed) && status == http.StatusMethodNotAllowed:
		which = "methodNotAllowed"
	default:
		return nil, findErr
	}
	surfaces, _ := spec.Extensions["x-surfaces"].([]any)
	best, name := -1, ""
	for _, s := range surfaces {
		m, _ := s.(map[string]any)
		prefix, _ := m["prefix"].(string)
		p := strings.TrimSuffix(prefix, "/")
		path := strings.ToLower(req.URL.Path)
		if path != p && !strings.HasPrefix(path, p+"/") {
			continue
		}
		if len(p) > best {
			best, name = len(p), m[which].(string)
		}
	}
	resp := spec.Components.Responses[name]
	if resp == nil {
		return nil, fmt.Errorf("%w, and x-surfaces names no %s response for it (%q)", findErr, which, name)
	}
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(status, resp))
	return &routers.Route{Spec: spec, Path: req.URL.Path, Method: req.Method, Operation: op}, nil
}

// checkHead checks a HEAD answer against its GET: a documented status and,
// where the GET answer has a body, its content type.
func checkHead(t testing.TB, req *http.Request, route *routers.Route, resp *http.Response) {
	t.Helper()
	r := route.Operation.Responses.Status(resp.StatusCode)
	if r == nil {
		r = route.Operation.Responses.Default()
	}
	if r == nil || r.Value == nil {
		t.Errorf("HEAD %s → %d: no such status documented for GET", req.URL.Path, resp.StatusCode)
		return
	}
	ct := resp.Header.Get("Content-Type")
	if len(r.Value.Content) > 0 && r.Value.Content.Get(ct) == nil {
		t.Errorf("HEAD %s → %d: content type %q is not documented for GET", req.URL.Path, resp.StatusCode, ct)
	}
}

// Client sends requests and checks every response against the contract.
type Client struct {
	T       testing.TB
	BaseURL string
	HTTP    *http.Client
}

// Do sends req (its URL may be a path, resolved against BaseURL) and returns
// the response and its body, after validating both.
func (c *Client) Do(req *http.Request) (*http.Response, []byte) {
	c.T.Helper()
	if req.URL.Host == "" {
		full, err := http.NewRequest(req.Method, c.BaseURL+req.URL.String(), req.Body)
		if err != nil {
			c.T.Fatal(err)
		}
		full.Header = req.Header
		req = full
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.T.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.T.Fatalf("read body: %v", err)
	}
	Check(c.T, req, resp, body)
	return resp, body
}

// NewRequest builds a request with an optional JSON body and headers given
// as "Name", "value" pairs.
func NewRequest(t testing.TB, method, path string, body string, headers ...string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}
