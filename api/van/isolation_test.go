package van_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/apitest"
)

// Another key of the same application and database mode can neither read
// nor change a key's load, its row errors, its phone statistics or its
// score updates: each answers 404 (VAN's own answer for what the caller
// cannot see), lists leave them out, and nothing changes.
func TestAnotherKeySeesNothingOfALoad(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(4, 0)
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	u := s.serve("/iso.csv", []byte(exampleCSV(4)+"x,1,2\r\n"))
	id := s.submit(exampleRequest(u, a, b, "[]"))
	v := s.wait(id)
	if v.Status != "Completed" || v.ErrorCount != 2 { // line 6 is bad for both actions
		t.Fatalf("load: %s, %d errors", v.Status, v.ErrorCount)
	}
	update := *v.Actions[0].Results.ScoreUpdateID

	other, err := s.env.Store.CreateKey(t.Context(), storageKey("haberdashery"))
	if err != nil {
		t.Fatal(err)
	}
	otherAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("haberdashery:"+other.Secret+"|0"))
	as := func(method, path, body string) (int, string) {
		resp, b := s.api.Do(apitest.NewRequest(t, method, path, body, "Authorization", otherAuth))
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{
		fmt.Sprintf("/v4/fileLoadingJobs/%d", id),
		fmt.Sprintf("/v4/fileLoadingJobs/%d/errors", id),
		fmt.Sprintf("/v4/fileLoadingJobs/%d/stats", id),
		fmt.Sprintf("/v4/scoreUpdates/%d", update),
	} {
		if code, body := as(http.MethodGet, path, ""); code != http.StatusNotFound || strings.Contains(body, "haberdasher score") {
			t.Errorf("GET %s as another key: %d %s, want 404 and none of the data", path, code, body)
		}
	}
	if code, body := as(http.MethodGet, "/v4/scoreUpdates", ""); code != http.StatusOK || strings.Contains(body, fmt.Sprint(update)) {
		t.Errorf("GET /v4/scoreUpdates as another key: %d %s, want its own (none)", code, body)
	}
	if code, _ := as(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", update), `{"loadStatus":"Approved"}`); code != http.StatusNotFound {
		t.Errorf("PATCH another key's score update: %d, want 404", code)
	}
	resp, body := s.do(http.MethodGet, fmt.Sprintf("/v4/scoreUpdates/%d", update), "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"PendingApproval"`) {
		t.Errorf("the owner's update after another key's PATCH: %d %s, want still PendingApproval", resp.StatusCode, body)
	}
}
