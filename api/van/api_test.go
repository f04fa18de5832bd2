package van_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/apitest"
	"github.com/turnoutdev/turnout/storage"
)

type vanErrors struct {
	Errors []struct {
		Code          string
		Text          string
		Properties    []string
		ReferenceCode string
	}
}

func TestInvalidRequestReportsEveryProblem(t *testing.T) {
	s := newStack(t, options{noAuto: true})
	score := s.rangeScore("A", 0, 10)
	body := fmt.Sprintf(`{
	  "description": "x",
	  "file": {"columnDelimiter": "semicolon", "columns": [{"name": "id"}, {"name": "ID"}], "hasHeader": "maybe",
	           "sourceUrl": "gopher://example.org/x.zip"},
	  "actions": [
	    {"actionType": "score", "personIdColumn": "vanid", "personIdType": "email", "scoreColumn": "id", "scoreId": 999999},
	    {"actionType": "shredFile"},
	    {"actionType": "score", "personIdColumn": "id", "personIdType": "VANID", "scoreColumn": "ID", "scoreId": %d,
	     "approvalCriteria": {"average": 11, "tolerance": 1}}
	  ],
	  "listeners": [{"type": "SMS", "value": "555"}, {"type": "EMAIL", "value": "not an address"}, {"type": "URL", "value": "ftp://x"}]
	}`, score)
	resp, b := s.do(http.MethodPost, "/v4/fileLoadingJobs", body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", resp.StatusCode, b)
	}
	var e vanErrors
	_ = json.Unmarshal(b, &e)
	got := map[string]bool{}
	for _, x := range e.Errors {
		got[x.Properties[0]] = true
		if x.Code != "INVALID_PARAMETER" && x.Code != "MISSING_PARAMETER" {
			t.Errorf("code %s", x.Code)
		}
		if x.ReferenceCode == "" {
			t.Error("no referenceCode")
		}
	}
	for _, want := range []string{"file.columnDelimiter", "file.columns[1].name", "file.hasHeader", "file.sourceUrl",
		"actions[0].personIdColumn", "actions[0].personIdType", "actions[0].scoreId", "actions[1].actionType",
		"actions[2].scoreColumn", "listeners[0].type", "listeners[1].value", "listeners[2].value"} {
		if !got[want] {
			t.Errorf("no error for %s; got %s", want, b)
		}
	}
}

// Parsons' VAN.upload_scores sends lower-case enums and "True"/"False"
// strings, posts to /v4/FileLoadingJobs, and may send an EMAIL listener
// with a null value.
func TestParsonsUploadScoresRequestIsAccepted(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(4, 0)
	a := s.rangeScore("A", 0, 1)
	u := s.serve("/x.zip", zipOf(t, "anything.csv", "vanid,score\n1,0.5\n2,0.25\n"))
	body := fmt.Sprintf(`{"description": "A description",
	  "file": {"columnDelimiter": "csv", "columns": [{"name": "vanid"}, {"name": "score"}], "fileName": "3f2a.csv",
	           "hasHeader": "True", "hasQuotes": "False", "sourceUrl": %q},
	  "actions": [{"actionType": "score", "personIdColumn": "vanid", "personIdType": "vanid", "scoreColumn": "score",
	               "scoreId": %d, "approvalCriteria": {"average": 0.375, "tolerance": 0.09}}],
	  "listeners": [{"type": "EMAIL", "value": null}]}`, u, a)
	id := s.submit(body)
	v := s.wait(id)
	if v.Status != "Completed" || v.Actions[0].Results.LoadStatus != "Approved" {
		t.Fatalf("job %s %+v (%s), want Completed and auto-approved", v.Status, v.Actions[0].Results, deref(v.Message))
	}
}

func TestSSRFAttemptsAreRefused(t *testing.T) {
	s := newStack(t, options{}) // nothing allow-listed
	s.people(2, 0)
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/iam/x.zip", "http://127.0.0.1/x.zip", "http://[::ffff:127.0.0.1]/x.zip", "http://10.0.0.5/x.zip"} {
		resp, body := s.do(http.MethodPost, "/v4/fileLoadingJobs", exampleRequest(u, a, b, "[]"))
		var e vanErrors
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != 400 || len(e.Errors) != 1 || e.Errors[0].Properties[0] != "file.sourceUrl" ||
			!strings.Contains(e.Errors[0].Text, "an internal, loopback, private or metadata address") {
			t.Errorf("%s: %d %s, want 400 on file.sourceUrl", u, resp.StatusCode, body)
		}
	}
	// A host name is checked on the address it resolves to, at connect time.
	u := strings.Replace(s.serve("/x.zip", zipOf(t, "h.csv", exampleCSV(2))), "127.0.0.1", "localhost", 1)
	id := s.submit(exampleRequest(u, a, b, "[]"))
	v := s.wait(id)
	if v.Status != "Error" || !strings.HasPrefix(deref(v.Message), "file.sourceUrl: localhost resolves to ") ||
		!strings.HasSuffix(deref(v.Message), "an internal, loopback, private or metadata address, which file loads may not reach") {
		t.Errorf("status %s message %q, want Error refusing localhost", v.Status, deref(v.Message))
	}
}

// A source whose redirect the SSRF guard refuses — to an internal address,
// to another scheme, or past five hops — fails the job on its first
// attempt, and the message names the redirect's target, not the host the
// caller gave. The redirector listens on 127.0.0.2, the only address
// allow-listed; the internal target is the file server on 127.0.0.1.
func TestRefusedRedirectsFailTheJobAtOnce(t *testing.T) {
	s := newStack(t, options{allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	internal := s.serve("/x.zip", zipOf(t, "h.csv", exampleCSV(2)))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	redirector := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/internal":
			http.Redirect(w, r, internal, http.StatusFound)
		case "/file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/ftp":
			http.Redirect(w, r, "ftp://127.0.0.2/x.zip", http.StatusMovedPermanently)
		case "/gopher":
			http.Redirect(w, r, "gopher://127.0.0.2:70/_x", http.StatusTemporaryRedirect)
		default: // /loop/N redirects to /loop/N+1 for ever
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/loop/"))
			http.Redirect(w, r, fmt.Sprintf("/loop/%d", n+1), http.StatusFound)
		}
	}))
	redirector.Listener = l
	redirector.Start()
	t.Cleanup(redirector.Close)
	origin := redirector.URL
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	for _, tc := range []struct{ path, want string }{
		{"/internal", "file.sourceUrl: redirected to " + internal + ", which resolves to 127.0.0.1, an internal, loopback, private or metadata address, which file loads may not reach"},
		{"/file", "file.sourceUrl: redirected to file:///etc/passwd, which file loads do not follow: only http and https redirects are followed"},
		{"/ftp", "file.sourceUrl: redirected to ftp://127.0.0.2/x.zip, which file loads do not follow: only http and https redirects are followed"},
		{"/gopher", "file.sourceUrl: redirected to gopher://127.0.0.2:70/_x, which file loads do not follow: only http and https redirects are followed"},
		{"/loop/0", "file.sourceUrl: redirected to " + origin + "/loop/6, which file loads do not follow: more than 5 redirects"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			id := s.submit(exampleRequest(origin+tc.path, a, b, "[]"))
			v := s.wait(id)
			if v.Status != "Error" || deref(v.Message) != tc.want {
				t.Errorf("status %s message %q, want Error %q", v.Status, deref(v.Message), tc.want)
			}
			j, err := s.env.Store.Job(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if j.Attempts != 1 || j.Status != storage.JobFailed {
				t.Errorf("job %s after %d attempts, want failed after 1: a refused redirect is not retried", j.Status, j.Attempts)
			}
		})
	}
}

func TestUnreachableSourceIsRetriedThenFails(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	id := s.submit(exampleRequest("http://user:pw12345@127.0.0.1:1/x.zip", a, b, "[]"))
	v := s.wait(id)
	msg := deref(v.Message)
	if v.Status != "Error" || !strings.HasPrefix(msg, "file.sourceUrl: http://user:xxxxx@127.0.0.1:1/x.zip: request failed: ") ||
		!strings.Contains(msg, "connection refused") || strings.Contains(msg, "pw12345") {
		t.Errorf("status %s message %q", v.Status, msg)
	}
	j, _ := s.env.Store.Job(t.Context(), id)
	if j.Attempts != j.MaxAttempts {
		t.Errorf("attempts %d, want all %d", j.Attempts, j.MaxAttempts)
	}
}

func TestAuthAndOwnership(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	id := s.submit(exampleRequest("http://127.0.0.1:1/x.zip", a, b, "[]"))
	wrongMode := "Basic " + base64.StdEncoding.EncodeToString([]byte("haberdashery:"+s.key.Secret+"|1"))
	resp, _ := s.api.Do(apitest.NewRequest(t, http.MethodGet, fmt.Sprintf("/v4/fileLoadingJobs/%d", id), "", "Authorization", wrongMode))
	if resp.StatusCode != 401 {
		t.Errorf("wrong dbMode: %d, want 401", resp.StatusCode)
	}
	other, _ := s.env.Store.CreateKey(t.Context(), storageKey("other"))
	otherAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("other:"+other.Secret+"|0"))
	resp, _ = s.api.Do(apitest.NewRequest(t, http.MethodGet, fmt.Sprintf("/v4/fileLoadingJobs/%d", id), "", "Authorization", otherAuth))
	if resp.StatusCode != 404 {
		t.Errorf("another key's job: %d, want 404", resp.StatusCode)
	}
	resp, _ = s.do(http.MethodGet, "/V4/SCORES/"+fmt.Sprint(a), "")
	if resp.StatusCode != 200 {
		t.Errorf("GET /V4/SCORES/id: %d, want 200 (paths are case-insensitive)", resp.StatusCode)
	}
}

func TestScoresPagingAndScoreUpdateFilters(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(10, 0)
	var ids []int64
	for i := range 5 {
		ids = append(ids, s.rangeScore(fmt.Sprintf("S%d", i), 0, 100))
	}
	resp, body := s.do(http.MethodGet, "/v4/scores?$top=2&$skip=1", "")
	var page struct {
		Items        []struct{ ScoreID int64 }
		NextPageLink *string
		Count        int64
	}
	_ = json.Unmarshal(body, &page)
	if resp.StatusCode != 200 || page.Count != 5 || len(page.Items) != 2 || page.Items[0].ScoreID != ids[1] ||
		page.NextPageLink == nil || !strings.Contains(*page.NextPageLink, "%24skip=3") {
		t.Errorf("page: %d %s", resp.StatusCode, body)
	}
	u := s.serve("/h.zip", zipOf(t, "haberdashery.csv", exampleCSV(10)))
	v := s.wait(s.submit(exampleRequest(u, ids[0], ids[1], "[]")))
	resp, body = s.do(http.MethodGet, fmt.Sprintf("/v4/scoreUpdates?scoreId=%d&createdAfter=2000-01-01", ids[1]), "")
	var ups struct {
		Items []struct {
			ScoreUpdateID int64
			LoadStatus    string
		}
		Count int64
	}
	_ = json.Unmarshal(body, &ups)
	if resp.StatusCode != 200 || ups.Count != 1 || ups.Items[0].ScoreUpdateID != *v.Actions[1].Results.ScoreUpdateID || ups.Items[0].LoadStatus != "Approved" {
		t.Errorf("scoreUpdates filtered: %d %s", resp.StatusCode, body)
	}
	resp, _ = s.do(http.MethodGet, "/v4/scoreUpdates?createdBefore=2000-01-01", "")
	if resp.StatusCode != 200 {
		t.Errorf("createdBefore: %d", resp.StatusCode)
	}
	resp, body = s.do(http.MethodGet, "/v4/scoreUpdates?createdAfter=yesterday", "")
	if resp.StatusCode != 400 || !strings.Contains(string(body), "createdAfter") {
		t.Errorf("bad date: %d %s", resp.StatusCode, body)
	}
	// An applied update cannot be disapproved; an unknown status is a 400.
	done := *v.Actions[1].Results.ScoreUpdateID
	resp, _ = s.do(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", done), `{"loadStatus":"Disapproved"}`)
	if resp.StatusCode != 409 {
		t.Errorf("disapprove an auto-approved update: %d, want 409", resp.StatusCode)
	}
	resp, _ = s.do(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", done), `{"loadStatus":"Completed"}`)
	if resp.StatusCode != 400 {
		t.Errorf("set Completed: %d, want 400", resp.StatusCode)
	}
	pending := *v.Actions[0].Results.ScoreUpdateID
	resp, _ = s.do(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", pending), `{"loadStatus":"Disapproved"}`)
	if resp.StatusCode != 204 {
		t.Errorf("disapprove a pending update: %d, want 204", resp.StatusCode)
	}
}
