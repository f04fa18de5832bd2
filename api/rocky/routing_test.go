package rocky_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/apitest"
)

// Under /api/v4 a method a Rocky route does not have is 405 with Allow, and
// a path Rocky has no route for is 404, both in Rocky's error shape
// ({"message": ...} only), before any credential is asked for; HEAD is
// answered wherever GET is, without a body.
func TestRockyRoutesAnswerWrongMethodsAndUnknownPaths(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/api/v4/registrations/bulk", 405, "POST"},
		{"DELETE", "/api/v4/registrations.json", 405, "POST"},
		{"PUT", "/api/v4/state_requirements.json", 405, "GET, HEAD"},
		{"GET", "/api/v4/registrant_reports.json", 405, "POST"},
		{"POST", "/api/v4/partners/" + s.partnerID + ".json", 405, "GET, HEAD"},
		{"GET", "/api/v4/no_such_thing.json", 404, ""},
		{"POST", "/api/v4/registrations/nothing", 404, ""},
		{"GET", "/api/v4/registrant_reports/1/nothing", 404, ""},
	} {
		status, m, raw := s.do(c.method, c.path, "")
		msg, _ := m["message"].(string)
		resp, _ := s.client.Do(apitest.NewRequest(t, c.method, c.path, ""))
		if status != c.status || resp.Header.Get("Allow") != c.allow || msg == "" || len(m) != 1 {
			t.Errorf("%s %s: %d (Allow %q) %s, want %d (Allow %q) with only a message", c.method, c.path, status,
				resp.Header.Get("Allow"), raw, c.status, c.allow)
		}
	}
	for _, path := range []string{"/api/v4/state_requirements.json?lang=en&home_state_id=CA", "/api/v4/gregistrationstates.json",
		"/api/v4/partnerpublicprofiles/" + s.partnerID + ".json"} {
		get, getBody := s.client.Do(apitest.NewRequest(t, http.MethodGet, path, ""))
		head, headBody := s.client.Do(apitest.NewRequest(t, http.MethodHead, path, ""))
		if get.StatusCode != 200 || head.StatusCode != 200 || len(headBody) != 0 || len(getBody) == 0 ||
			!strings.HasPrefix(head.Header.Get("Content-Type"), "application/json") {
			t.Errorf("HEAD %s: %d %q with %d body bytes, want GET's 200 JSON and no body", path, head.StatusCode,
				head.Header.Get("Content-Type"), len(headBody))
		}
	}
}

// Rails routes answer with and without the .json suffix; so do these.
func TestFormatSuffixIsOptional(t *testing.T) {
	s := start(t, options{noWorker: true})
	for _, path := range []string{"/api/v4/state_requirements?lang=en&home_state_id=CA", "/api/v4/gregistrationstates",
		"/api/v4/registrations/pdf_ready.json?UID=x", "/api/v4/partnerpublicprofiles/" + s.partnerID} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 404 || resp.StatusCode == 405 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

// The keyless endpoints are limited per client address (TURNOUT_PUBLIC_RATE_LIMIT),
// and the refusal comes in Rocky's error shape.
func TestPublicEndpointsAreLimitedPerAddress(t *testing.T) {
	s := start(t, options{noWorker: true, publicPerMinute: 3})
	for i := 0; i < 3; i++ {
		if status, _, raw := s.do("GET", "/api/v4/state_requirements.json?lang=en&home_state_id=CA", ""); status != 200 {
			t.Fatalf("call %d: %d %s", i+1, status, raw)
		}
	}
	status, m, raw := s.do("POST", "/api/v4/registrations.json", `{"registration":{"lang":"en"}}`)
	if status != http.StatusTooManyRequests || m["message"] != "Call rate has been exceeded" {
		t.Fatalf("4th public call: %d %s, want 429 with Rocky's {message}", status, raw)
	}
}
