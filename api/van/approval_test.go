package van_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type scoreUpdateBody struct {
	ScoreUpdateID    int64
	LoadStatus       string
	ApprovalNote     string
	UpdateStatistics struct {
		MatchedRows  int64
		AverageValue *float64
	}
}

func (s *stack) scoreUpdates(query string) []scoreUpdateBody {
	s.t.Helper()
	resp, b := s.do(http.MethodGet, "/v4/scoreUpdates"+query, "")
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /v4/scoreUpdates%s: %d %s", query, resp.StatusCode, b)
	}
	var page struct{ Items []scoreUpdateBody }
	_ = json.Unmarshal(b, &page)
	return page.Items
}

func scoreRequest(u string, score int64, criteria string) string {
	return fmt.Sprintf(`{"description": "A description",
	  "file": {"columnDelimiter": "csv", "columns": [{"name": "vanid"}, {"name": "score"}], "fileName": "s.csv",
	           "hasHeader": "True", "hasQuotes": "False", "sourceUrl": %q},
	  "actions": [{"actionType": "score", "personIdColumn": "vanid", "personIdType": "vanid", "scoreColumn": "score",
	               "scoreId": %d, "approvalCriteria": %s}]}`, u, score, criteria)
}

// Auto-approval compares the criteria with the average of every valid value
// in the file's column, as a client computing the column's mean (Parsons'
// upload_scores) expects: people not in the database and people listed
// twice count. The matched statistics stay those of the stored values. An
// auto-approved update is Approved, and the loadStatus filter finds it.
func TestAutoApprovalAveragesEveryValueInTheFile(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(3, 0)
	score := s.rangeScore("Turnout", 0, 1)
	// Column mean (0.5+0.5+0.9+0.1)/4 = 0.5; person 2's last value wins, so
	// the stored values' mean is (0.5+0.9)/2 = 0.7; 99 is nobody; "x" is
	// not a value.
	u := s.serve("/avg.zip", zipOf(t, "s.csv", "vanid,score\n1,0.5\n2,0.5\n2,0.9\n99,0.1\n3,x\n"))
	v := s.wait(s.submit(scoreRequest(u, score, `{"average": 0.5, "tolerance": 0.05}`)))
	if v.Status != "Completed" || v.Actions[0].Results == nil || v.Actions[0].Results.LoadStatus != "Approved" {
		t.Fatalf("job %s %+v (%s), want Completed and the update Approved", v.Status, v.Actions[0].Results, deref(v.Message))
	}
	id := *v.Actions[0].Results.ScoreUpdateID
	var su scoreUpdateBody
	resp, b := s.do(http.MethodGet, fmt.Sprintf("/v4/scoreUpdates/%d", id), "")
	_ = json.Unmarshal(b, &su)
	avg := su.UpdateStatistics.AverageValue
	if resp.StatusCode != 200 || su.LoadStatus != "Approved" || su.UpdateStatistics.MatchedRows != 2 || avg == nil || *avg < 0.699 || *avg > 0.701 {
		t.Errorf("score update: %d %s; want Approved with the matched statistics (2 rows, average 0.7)", resp.StatusCode, b)
	}
	if got := s.scoreUpdates("?loadStatus=Approved"); len(got) != 1 || got[0].ScoreUpdateID != id {
		t.Errorf("loadStatus=Approved finds %+v, want update %d", got, id)
	}
	if got := s.scoreUpdates("?loadStatus=completed"); len(got) != 0 {
		t.Errorf("loadStatus=completed finds %+v, want none", got)
	}
	if resp, b := s.do(http.MethodGet, "/v4/scoreUpdates?loadStatus=Done", ""); resp.StatusCode != 400 || !strings.Contains(string(b), "loadStatus") {
		t.Errorf("loadStatus=Done: %d %s, want 400 naming loadStatus", resp.StatusCode, b)
	}
	// Approving it again changes nothing; it cannot be disapproved.
	if resp, b := s.do(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", id), `{"loadStatus": "Approved"}`); resp.StatusCode != 204 {
		t.Errorf("approve an Approved update again: %d %s, want 204", resp.StatusCode, b)
	}
	if resp, _ := s.do(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", id), `{"loadStatus": "Disapproved"}`); resp.StatusCode != 409 {
		t.Errorf("disapprove an auto-approved update: %d, want 409", resp.StatusCode)
	}
	// A file whose column average is outside the tolerance waits.
	u = s.serve("/far.zip", zipOf(t, "s.csv", "vanid,score\n1,0.9\n2,0.9\n"))
	v = s.wait(s.submit(scoreRequest(u, score, `{"average": 0.5, "tolerance": 0.05}`)))
	if v.Actions[0].Results.LoadStatus != "PendingApproval" {
		t.Errorf("average 0.9 against 0.5±0.05: %s, want PendingApproval", v.Actions[0].Results.LoadStatus)
	}
}

// Criteria that cannot apply (a key without permission to approve, a
// criteria object with a null average) do not fail the request: the scores
// load, the update waits for approval, and the job and the update say why.
func TestCriteriaThatCannotApplyLeaveTheUpdatePending(t *testing.T) {
	cases := []struct {
		name     string
		noAuto   bool
		criteria string
		note     string
	}{
		{"key without permission", true, `{"average": 0.5, "tolerance": 0.05}`, "this API key may not automatically approve scores"},
		{"null average", false, `{"average": null, "tolerance": 0.05}`, "approvalCriteria has no average"},
		{"nothing given", false, `{}`, "approvalCriteria has no average or tolerance"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, options{allow: loopback, noAuto: tc.noAuto})
			s.people(2, 0)
			score := s.rangeScore("Turnout", 0, 1)
			u := s.serve("/s.zip", zipOf(t, "s.csv", "vanid,score\n1,0.5\n2,0.5\n"))
			v := s.wait(s.submit(scoreRequest(u, score, tc.criteria)))
			a := v.Actions[0]
			if v.Status != "Completed" || a.Results == nil || a.Results.LoadStatus != "PendingApproval" || a.Results.Matched != 2 {
				t.Fatalf("job %s %+v, want Completed with 2 rows loaded and PendingApproval", v.Status, a.Results)
			}
			if !strings.Contains(a.ApprovalNote, tc.note) || !strings.HasPrefix(a.ApprovalNote, "not automatically approved") {
				t.Errorf("job's approvalNote = %q, want it to say %q", a.ApprovalNote, tc.note)
			}
			if got := s.scoreUpdates(""); len(got) != 1 || got[0].ApprovalNote != a.ApprovalNote {
				t.Errorf("score updates %+v, want the same note", got)
			}
		})
	}
}

// Request errors say where and what: a JSON syntax error names its line and
// column, an unknown action type lists the supported ones, and a URL
// listener without a URL names the field.
func TestRequestErrorMessagesSayWhereAndWhat(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	score := s.rangeScore("Turnout", 0, 1)
	valid := scoreRequest("http://127.0.0.1/x.zip", score, `{"average": 0.5, "tolerance": 0.05}`)
	cases := []struct {
		name, body, property, code, text string
	}{
		{"syntax error", "{\"description\": \"x\",\n  \"file\": {,}}", "body", "INVALID_PARAMETER", "line 2, column 12"},
		{"unknown action type", strings.Replace(valid, `"actionType": "score"`, `"actionType": "shredFile"`, 1),
			"actions[0].actionType", "INVALID_PARAMETER", "want one of Score, AVEVDataFile, LoadSavedListFile, phonesFile"},
		{"URL listener without a URL", strings.Replace(valid, `"actions":`, `"listeners": [{"type": "URL"}], "actions":`, 1),
			"listeners[0].value", "MISSING_PARAMETER", "is required for a URL listener"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := s.do(http.MethodPost, "/v4/fileLoadingJobs", tc.body)
			var e vanErrors
			_ = json.Unmarshal(b, &e)
			if resp.StatusCode != 400 || len(e.Errors) != 1 || e.Errors[0].Properties[0] != tc.property ||
				e.Errors[0].Code != tc.code || !strings.Contains(e.Errors[0].Text, tc.text) {
				t.Errorf("%d %s; want 400 %s on %s saying %q", resp.StatusCode, b, tc.code, tc.property, tc.text)
			}
		})
	}
}
