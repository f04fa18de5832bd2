package van_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/storage"
)

// Value scores take one of their shortName values (any case); people can be
// named by DWID or StateFileID; approval criteria are refused on a value
// score.
func TestValueScoresAndOtherPersonIDTypes(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(3, 0)
	vs, err := s.env.Store.CreateScore(context.Background(), storage.NewScore{Name: "Hat colour", Values: []string{"Red", "Blue"}})
	if err != nil {
		t.Fatal(err)
	}
	rs := s.rangeScore("Range", 1, 5)
	u := s.serve("/v.zip", zipOf(t, "f.csv", "dwid|sfid|colour|r\n1000001|SF1|red|1\n1000002|SF2|Green|5\n1000003|SF3|Blue|3.5\n1000099|SF99|Red|2\n"))
	body := fmt.Sprintf(`{"description": "types", "file": {"columnDelimiter": "Pipe", "hasHeader": true, "sourceUrl": %q,
	  "columns": [{"name": "dwid"}, {"name": "sfid"}, {"name": "colour"}, {"name": "r"}]},
	  "actions": [
	    {"actionType": "Score", "personIdColumn": "dwid", "personIdType": "DWID", "scoreColumn": "colour", "scoreId": %d},
	    {"actionType": "Score", "personIdColumn": "sfid", "personIdType": "StateFileID", "scoreColumn": "r", "scoreId": %d}]}`, u, vs.ID, rs)
	v := s.wait(s.submit(body))
	if v.Status != "Completed" {
		t.Fatalf("status %s %s", v.Status, deref(v.Message))
	}
	a, b := v.Actions[0].Results, v.Actions[1].Results
	if a.Matched != 2 || a.Unmatched != 1 || a.RowsInvalid != 1 || b.Matched != 3 || b.Unmatched != 1 {
		t.Errorf("results %+v %+v; want value score 2 matched 1 unmatched 1 invalid, range score 3 matched 1 unmatched", a, b)
	}
	want := fmt.Sprintf(`"Green" is not a value of score %d (Blue, Red)`, vs.ID)
	if len(v.Errors) != 1 || v.Errors[0].Line != 3 || v.Errors[0].Message != want {
		t.Errorf("errors %+v, want line 3 %q", v.Errors, want)
	}
	resp, body2 := s.do(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", *a.ScoreUpdateID), `{"loadStatus": "approved"}`)
	if resp.StatusCode != 204 {
		t.Fatalf("approve: %d %s", resp.StatusCode, body2)
	}
	var got []string
	rows, _ := s.env.Pool.Query(context.Background(), `SELECT vanid || '=' || value FROM van_person_scores WHERE score_id = $1 ORDER BY vanid`, vs.ID)
	for rows.Next() {
		var x string
		_ = rows.Scan(&x)
		got = append(got, x)
	}
	if strings.Join(got, " ") != "1=Red 3=Blue" {
		t.Errorf("value scores applied: %v, want canonical shortNames 1=Red 3=Blue", got)
	}
	resp, body2 = s.do(http.MethodGet, fmt.Sprintf("/v4/scores/%d", vs.ID), "")
	var sc struct{ ScoreValues []struct{ ShortName string } }
	_ = json.Unmarshal(body2, &sc)
	if resp.StatusCode != 200 || len(sc.ScoreValues) != 2 {
		t.Errorf("GET value score: %d %s", resp.StatusCode, body2)
	}

	bad := strings.Replace(body, `"scoreColumn": "colour", "scoreId": `+fmt.Sprint(vs.ID), `"scoreColumn": "colour", "scoreId": `+fmt.Sprint(vs.ID)+`, "approvalCriteria": {"average": 1, "tolerance": 0}`, 1)
	// Criteria on a value score do not fail the request: the scores load and
	// wait for approval, and the job and the update say why.
	v = s.wait(s.submit(bad))
	note := v.Actions[0].ApprovalNote
	if v.Status != "Completed" || v.Actions[0].Results.LoadStatus != "PendingApproval" || !strings.Contains(note, "only range scores may be automatically approved") {
		t.Errorf("criteria on a value score: job %s, update %s, note %q; want Completed, PendingApproval and why", v.Status, v.Actions[0].Results.LoadStatus, note)
	}
	if got := s.scoreUpdates(fmt.Sprintf("?scoreId=%d&loadStatus=PendingApproval", vs.ID)); len(got) != 1 || got[0].ApprovalNote != note {
		t.Errorf("value score's pending updates %+v, want one carrying the job's note %q", got, note)
	}
}
