package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/turnoutdev/turnout/api/openapi"
	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/storage"
)

// Every surface owns its prefix: a path no route has is 404 and a method a
// path has not is 405 with Allow, both in that surface's own error shape,
// before any credentials are asked for.
func TestUnroutedRequestsAnswerInTheShapeOfTheSurfaceOwningThePath(t *testing.T) {
	c := newServer(t, nil)
	targetsKey := createKey(t, storage.NewKey{Scopes: []string{"targets"}})
	type check func(t *testing.T, body map[string]any)
	native := func(prefix string) check {
		return func(t *testing.T, b map[string]any) {
			if msg, _ := b["error"].(string); !strings.HasPrefix(msg, prefix) {
				t.Errorf("error = %v, want the %q prefix", b["error"], prefix)
			}
			if b["function_id"] != "service.unrouted" {
				t.Errorf("function_id = %v, want service.unrouted", b["function_id"])
			}
			if in, _ := b["input"].(map[string]any); len(in) != 0 {
				t.Errorf("input = %v, want nothing of the router's", in)
			}
		}
	}
	vanCode := func(code string) check {
		return func(t *testing.T, b map[string]any) {
			if got := b["errors"].([]any)[0].(map[string]any)["code"]; got != code {
				t.Errorf("VAN code = %v, want %s", got, code)
			}
		}
	}
	salsaCode := func(code float64) check {
		return func(t *testing.T, b map[string]any) {
			if got := b["errors"].([]any)[0].(map[string]any)["code"]; got != code {
				t.Errorf("Salsa code = %v, want %v", got, code)
			}
		}
	}
	rockyMessage := func(t *testing.T, b map[string]any) {
		if msg, _ := b["message"].(string); msg == "" || len(b) != 1 {
			t.Errorf("Rocky body = %v, want only a message", b)
		}
	}
	targetsStatus := func(status float64) check {
		return func(t *testing.T, b map[string]any) {
			if b["status"] != status || b["path"] == nil {
				t.Errorf("Adhese body = %v, want status %v and the path", b, status)
			}
		}
	}
	cases := []struct {
		method, path string
		headers      []string
		status       int
		allow        string
		check        check
	}{
		{"GET", "/favicon.ico", nil, 404, "", native("Query Error: ")},
		{"GET", "/no/such/thing", nil, 404, "", native("Query Error: ")},
		{"PUT", "/healthz", nil, 405, "GET, HEAD", native("Validation Error: ")},
		{"GET", "/service/nothing", nil, 404, "", native("Query Error: ")},
		{"PATCH", "/service/jobs/batch", nil, 405, "POST", native("Validation Error: ")},
		{"DELETE", "/service/jobs/1", nil, 405, "GET, HEAD", native("Validation Error: ")},
		{"GET", "/v4/nothing", nil, 404, "", vanCode("NOT_FOUND")},
		{"DELETE", "/v4/scores", nil, 405, "GET, HEAD", vanCode("METHOD_NOT_ALLOWED")},
		{"DELETE", "/V4/Scores", nil, 405, "GET, HEAD", vanCode("METHOD_NOT_ALLOWED")},
		{"GET", "/v4/fileLoadingJobs", nil, 405, "POST", vanCode("METHOD_NOT_ALLOWED")},
		{"GET", "/api/integration/ext/v1/nothing", nil, 404, "", salsaCode(404)},
		{"POST", "/api/integration/ext/v1/metrics", nil, 405, "GET, HEAD", salsaCode(405)},
		{"GET", "/api/v4/nothing.json", nil, 404, "", rockyMessage},
		{"GET", "/api/v4x", nil, 404, "", native("Query Error: ")},
		{"GET", "/api/targettypes/9/nothing", nil, 404, "", targetsStatus(404)},
		{"DELETE", "/api/targettypes", []string{"X-API-Key", targetsKey.Secret}, 405, "GET, HEAD", targetsStatus(405)},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, b := c.Do(apitest.NewRequest(t, tc.method, tc.path, "", tc.headers...))
			if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow {
				t.Fatalf("%d (Allow %q), want %d (Allow %q): %s", resp.StatusCode, resp.Header.Get("Allow"), tc.status, tc.allow, b)
			}
			tc.check(t, decode(t, b))
		})
	}
}

// HEAD is answered wherever GET is, with GET's status and headers and no
// body; where the path has no GET it is 405 like any other method.
func TestHeadIsAnsweredWhereverGetIs(t *testing.T) {
	c := newServer(t, nil)
	van := createKey(t, storage.NewKey{Scopes: []string{"van"}})
	cases := []struct {
		path    string
		headers []string
		status  int
		ctype   string
	}{
		{"/healthz", nil, 200, "application/json"},
		{"/status", nil, 200, "text/html"},
		{"/openapi.yaml", nil, 200, "application/yaml"},
		{"/", nil, 200, "text/html"},
		{"/reference", nil, 200, "text/html"},
		{"/service/jobs/1", []string{"X-API-Key", van.Secret}, 404, "application/json"},
		{"/v4/fileLoadingJobs", nil, 405, "application/json"},
	}
	for _, tc := range cases {
		resp, body := c.Do(apitest.NewRequest(t, http.MethodHead, tc.path, "", tc.headers...))
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || len(body) != 0 {
			t.Errorf("HEAD %s: %d %q with %d body bytes, want %d %s and no body", tc.path, resp.StatusCode,
				resp.Header.Get("Content-Type"), len(body), tc.status, tc.ctype)
		}
	}
	// OPTIONS lists the same methods as a 405's Allow.
	req, _ := http.NewRequest(http.MethodOptions, c.BaseURL+"/v4/scores", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("OPTIONS /v4/scores: %d Allow %q, want 204 GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// The landing page links the operator pages, the document and its browsable
// reference, which is rendered from the same embedded document and loads
// nothing from elsewhere.
func TestLandingPageAndAPIReference(t *testing.T) {
	c := newServer(t, nil)
	_, home := c.Do(apitest.NewRequest(t, http.MethodGet, "/", ""))
	for _, href := range []string{`href="/status"`, `href="/monitoring/"`, `href="/openapi.yaml"`, `href="/reference"`} {
		if !strings.Contains(string(home), href) {
			t.Errorf("landing page lacks %s", href)
		}
	}
	_, ref := c.Do(apitest.NewRequest(t, http.MethodGet, "/reference", ""))
	page := string(ref)
	for _, want := range []string{"/v4/fileloadingjobs", "/api/v4/registrations.json", "/service/jobs/{id}",
		"/api/targettypes/{id}/targets", "/api/integration/ext/v1/metrics", `id="schema-VanErrors"`,
		"VanMethodNotAllowed", "NativeNotFound", "/service/jobs/{id}/events", "text/event-stream: string", "Last-Event-ID",
		"event: end", "<code>X-Accel-Buffering</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("API reference lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", `src="http`, `href="http`} {
		if strings.Contains(page, banned) {
			t.Errorf("API reference has %q: it must work offline", banned)
		}
	}
	// Every documented path appears.
	_, spec := c.Do(apitest.NewRequest(t, http.MethodGet, "/openapi.yaml", ""))
	for _, line := range strings.Split(string(spec), "\n") {
		if strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":") {
			if p := strings.TrimSuffix(strings.TrimSpace(line), ":"); !strings.Contains(page, ">"+p+"<") {
				t.Errorf("API reference lacks the path %s", p)
			}
		}
	}
	_ = io.Discard
}

// Field problems come in Salsa's validation error shape, keeping field for
// the clients of the earlier one.
func TestFieldErrorsComeInSalsasShape(t *testing.T) {
	c := newServer(t, nil)
	k := createKey(t, storage.NewKey{Scopes: []string{"admin"}})
	resp, b := c.Do(apitest.NewRequest(t, http.MethodPost, "/service/jobs", `{"sleepMs": 60001}`, "X-API-Key", k.Secret))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", resp.StatusCode, b)
	}
	fe := decode(t, b)["errors"].([]any)[0].(map[string]any)
	want := map[string]any{"code": 2007.0, "fieldName": "sleepMs", "field": "sleepMs", "message": "The value for the field is out of range"}
	for k, v := range want {
		if fe[k] != v {
			t.Errorf("%s = %v, want %v", k, fe[k], v)
		}
	}
	if d, _ := fe["details"].(string); !strings.Contains(d, "60000") {
		t.Errorf("details = %q, want what was wrong with sleepMs", d)
	}
	if id, _ := fe["id"].(string); len(id) != 36 {
		t.Errorf("id = %q, want a UUID", id)
	}
}

// The server owns exactly the prefixes the document's x-surfaces lists:
// an unknown path below each is answered in the shape the document names
// for it (apitest.Client checks the answer against that response).
func TestEveryDocumentedSurfacePrefixAnswersUnknownPathsInItsShape(t *testing.T) {
	c := newServer(t, nil)
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Spec)
	if err != nil {
		t.Fatal(err)
	}
	surfaces, _ := doc.Extensions["x-surfaces"].([]any)
	if len(surfaces) < 2 {
		t.Fatalf("x-surfaces = %v, want the surfaces' prefixes", doc.Extensions["x-surfaces"])
	}
	for _, s := range surfaces {
		prefix, _ := s.(map[string]any)["prefix"].(string)
		if prefix == "/monitoring" {
			continue // the dashboard answers every path below it, behind admin credentials
		}
		path := strings.TrimSuffix(prefix, "/") + "/no/such/path/at/all"
		resp, b := c.Do(apitest.NewRequest(t, http.MethodGet, path, ""))
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404: %s", path, resp.StatusCode, b)
		}
	}
}
