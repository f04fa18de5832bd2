package rocky_test

import (
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/apitest"
)

func TestJSONP(t *testing.T) {
	s := start(t, options{noWorker: true})
	resp, raw := s.client.Do(apitest.NewRequest(t, "GET", "/api/v4/state_requirements.json?lang=en&home_state_id=NH&callback=handle", ""))
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/javascript; charset=UTF-8" ||
		!strings.HasPrefix(string(raw), `handle({"message":"New Hampshire does not accept`) || !strings.HasSuffix(string(raw), ");") {
		t.Fatalf("JSONP error: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	resp, raw = s.client.Do(apitest.NewRequest(t, "GET", "/api/v4/gregistrationstates.json?callback=a.b_c", ""))
	if resp.StatusCode != 200 || !strings.HasPrefix(string(raw), `a.b_c({"states":[`) {
		t.Fatalf("JSONP: %d %s", resp.StatusCode, raw)
	}
	status, _, raw := s.do("GET", "/api/v4/gregistrationstates.json?callback=alert(1)//", "")
	if status != 400 || strings.Contains(string(raw), "alert(1)(") {
		t.Fatalf("script callback accepted: %d %s", status, raw)
	}
}
