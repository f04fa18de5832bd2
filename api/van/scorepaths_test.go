package van_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/jobs/fileload"
)

// A score load naming people by VANID or DWID takes the direct path
// (matched chunk by chunk, COPY'd straight into the update); one naming
// them by StateFileID is staged and joined by PostgreSQL. The same rows
// must give the same statistics, counts and stored values every way: on a
// first load (statistics from the worker's counters) and on a second one
// with people listed twice and current scores to compare with (statistics
// from PostgreSQL), with the default chunks and with chunks of two rows
// whose id sets spill at once.
func TestScorePathsAgree(t *testing.T) {
	for _, c := range []struct {
		name      string
		chunkRows int
		setBytes  int64
	}{{"default chunks", 0, 0}, {"chunks of two rows, sets of one byte", 2, 1}} {
		t.Run(c.name, func(t *testing.T) {
			s := newStack(t, options{allow: loopback, chunkRows: c.chunkRows, setBytes: c.setBytes})
			s.people(20, 0)
			byVANID, byDWID, byStateFile := s.rangeScore("Direct", 0, 100), s.rangeScore("Direct DWID", 0, 100), s.rangeScore("Staged", 0, 100)

			// id, score; 99 and 98 are nobody, 7 and 8 are bad rows.
			first := [][2]string{{"1", "10"}, {"2", "20"}, {"3", ""}, {"99", "50"}, {"4", "30"}, {"5", "40.25"},
				{"98", "1"}, {"98", "2"}, {"6", "55.5"}, {"7", "abc"}, {"8", "101"}, {"9", "1e1"}}
			second := [][2]string{{"1", "15"}, {"2", "5"}, {"3", "70"}, {"4", ""}, {"1", "12"}, {"10", "30"},
				{"97", "3"}, {"2", "25"}, {"11", "0"}}

			d1 := s.loadScores(byVANID, "VANID", first)
			w1 := s.loadScores(byDWID, "DWID", first)
			s1 := s.loadScores(byStateFile, "StateFileID", first)
			want := fileload.Statistics{TotalRows: 12, DuplicateRows: 1, MatchedRows: 7, MatchPercent: 58.33, Added: 6, NulledOut: 0,
				OutOfRange: 1, BadValues: 1, MaxValue: ptr(55.5), MinValue: ptr(10.0), AverageValue: ptr(27.625), MedianValue: ptr(25.0)}
			s.sameLoads(t, "first load", d1, s1, &want)
			s.sameLoads(t, "first load by DWID", w1, s1, &want)

			for _, u := range []scoreLoad{d1, w1, s1} {
				if resp, b := s.do(http.MethodPatch, fmt.Sprintf("/v4/scoreUpdates/%d", u.updateID), `{"loadStatus":"Approved"}`); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("approve %d: %d %s", u.updateID, resp.StatusCode, b)
				}
			}
			d2 := s.loadScores(byVANID, "VANID", second)
			w2 := s.loadScores(byDWID, "DWID", second)
			s2 := s.loadScores(byStateFile, "StateFileID", second)
			// 1: 10→12 up, 2: 20→25 up, 3: blank→70 added, 4: 30→blank nulled,
			// 10 and 11 added; 97 is nobody.
			want = fileload.Statistics{TotalRows: 9, DuplicateRows: 2, MatchedRows: 6, MatchPercent: 66.67, Added: 3, NulledOut: 1, IncreasedBy: 2,
				MaxValue: ptr(70.0), MinValue: ptr(0.0), AverageValue: ptr(27.4), MedianValue: ptr(25.0)}
			s.sameLoads(t, "second load", d2, s2, &want)
			s.sameLoads(t, "second load by DWID", w2, s2, &want)
		})
	}
}

func ptr(f float64) *float64 { return &f }

type scoreLoad struct {
	updateID int64
	results  fileload.ActionResults
	stats    fileload.Statistics
	values   string
}

// loadScores loads rows (person id, score) into score, naming people by
// idType (StateFileIDs are "SF" and the VANID, DWIDs 1000000 more than
// the VANID), and returns what it made.
func (s *stack) loadScores(score int64, idType string, rows [][2]string) scoreLoad {
	s.t.Helper()
	var b strings.Builder
	b.WriteString("id,score\n")
	for _, r := range rows {
		id := r[0]
		switch idType {
		case "StateFileID":
			id = "SF" + id
		case "DWID":
			n, _ := strconv.Atoi(id)
			id = strconv.Itoa(1000000 + n)
		}
		fmt.Fprintf(&b, "%s,%s\n", id, r[1])
	}
	path := fmt.Sprintf("/%d-%s.csv", score, idType)
	u := s.serve(path, []byte(b.String()))
	v := s.wait(s.submit(fmt.Sprintf(`{"description": "paths", "file": {"columnDelimiter": "Csv", "hasHeader": true, "sourceUrl": %q,
	  "columns": [{"name": "id"}, {"name": "score"}]},
	  "actions": [{"actionType": "Score", "personIdColumn": "id", "personIdType": %q, "scoreColumn": "score", "scoreId": %d}]}`, u, idType, score)))
	if v.Status != "Completed" || v.Actions[0].Results == nil {
		s.t.Fatalf("%s load: %s %s", idType, v.Status, deref(v.Message))
	}
	out := scoreLoad{results: *v.Actions[0].Results, updateID: *v.Actions[0].Results.ScoreUpdateID}
	out.results.ScoreUpdateID = nil
	resp, body := s.do(http.MethodGet, fmt.Sprintf("/v4/scoreUpdates/%d", out.updateID), "")
	var su struct{ UpdateStatistics fileload.Statistics }
	if err := json.Unmarshal(body, &su); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET score update: %d %s", resp.StatusCode, body)
	}
	out.stats = su.UpdateStatistics
	_ = s.env.Pool.QueryRow(context.Background(), `SELECT string_agg(vanid || '=' || coalesce(value, 'null'), ' ' ORDER BY vanid)
		FROM van_score_update_values WHERE score_update_id = $1`, out.updateID).Scan(&out.values)
	return out
}

func (s *stack) sameLoads(t *testing.T, what string, direct, staged scoreLoad, want *fileload.Statistics) {
	t.Helper()
	if direct.values != staged.values {
		t.Errorf("%s: stored values differ:\n direct %s\n staged %s", what, direct.values, staged.values)
	}
	if direct.results != staged.results {
		t.Errorf("%s: results differ: direct %+v, staged %+v", what, direct.results, staged.results)
	}
	for name, got := range map[string]fileload.Statistics{"direct": direct.stats, "staged": staged.stats} {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s, %s path: statistics\n %s\nwant\n %s", what, name, g, w)
		}
	}
}
