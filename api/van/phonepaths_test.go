package van_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/jobs/fileload"
	"github.com/turnoutdev/turnout/storage"
)

// A load whose only action is phonesFile takes the direct path: the rows
// of a person with no phone are COPY'd straight into van_phones (his
// consecutive rows settled in the worker), everyone else goes through the
// set-based rules, and a person COPY'd straight who turns up again later
// is moved back into them. A load with another action
// beside it stages every row and applies the rules in PostgreSQL. The same
// rows must give the same phones, row errors, warnings and statistics
// either way, on a first load into people without phones and on a second
// one over them. Two preferred rows of a person for different numbers load
// both numbers on every path: the last row's preferred, the earlier one's
// not, with a warning on the earlier row.
func TestPhonesPathsAgree(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(20, 0)
	first := []string{
		"1,Cell,Bulk,6125550101,1,,Opt In,4", // 2: one row, no phones: straight
		"2,Home,Bulk,6125550102,0,,,",        // 3: straight, then listed again on line 16
		"3,Cell,Bulk,6125550103,1,,,",        // 4: consecutive rows of 3 (settled in the worker); loses preferred to line 5
		"3,Work,Bulk,6125550113,1,,,",        // 5
		"4,Cell,Bulk,6125550104,1,,,",        // 6: straight, moved back for line 10; loses preferred to it
		"5,Cell,Bulk,6125550115,1,,,",        // 7: 5 has a preferred phone already
		"99,Cell,Bulk,6125550199,1,,,",       // 8: nobody; loses preferred to line 12
		"6,Work,Bulk,6125550106,0,,,2",       // 9: updates 6's phone
		"4,Cell,Bulk,6125550124,1,,,",        // 10
		"7,Cell,Bulk,6125550107,0,,,",        // 11: straight, then its number again on line 14
		"99,Cell,Bulk,6125550198,1,,,",       // 12
		"8,Cell,Bulk,6125550108,0,,,",        // 13
		"7,Home,Bulk,6125550107,1,x9,,3",     // 14: the last row of 7's number wins
		"12,Cell,Bulk,1235550100,0,,,",       // 15: bad area code
		"2,Cell,Bulk,16125550102,1,,,",       // 16: same number as line 3, now preferred
		"9,Cell,Bulk,6125550109,1,,,",        // 17: the last row, held back until the end
	}
	second := []string{
		"1,Cell,Bulk,6125550131,1,,,",    // 2: 1 has phones (6125550101 preferred: cleared); loses preferred to line 3
		"1,Home,Bulk,6125550141,1,,,",    // 3
		"10,Cell,Bulk,6125550110,1,,,",   // no phones yet: straight
		"11,Cell,Bulk,6125550111,0,,,",   // consecutive rows of 11
		"11,Cell,Bulk,6125550111,0,,,",   // duplicate
		"9,Work,Bulk,6125550109,1,,,",    // updates, stays preferred
		"12,Cell,Bulk,6125550112,1,,,",   // straight, then again below
		"13,Home,Bulk,6125550113,0,,,",   // straight
		"12,Cell,Bulk,6125550122,0,,,",   // a second phone of 12
		"bad,Cell,Bulk,6125550112,0,,,",  // not a VANID
		"98,Cell,Bulk,6125550198,0,,,",   // nobody
		"13,Home,Bulk,6125550113,0,12,,", // 13 again, same number
	}
	type outcome struct {
		phones []phoneRow
		loads  []phoneLoad
	}
	run := func(general bool) outcome {
		truncatePhones(t, s)
		if _, err := s.env.Pool.Exec(context.Background(), `INSERT INTO van_phones (db_mode, vanid, phone, phone_type, phone_source, preferred, opt_in_status, sonar_score)
			VALUES (0, 5, '7185550105', 'H', 'Bulk', true, 'U', 5), (0, 6, '6125550106', 'H', 'Bulk', false, 'U', 5)`); err != nil {
			t.Fatal(err)
		}
		var o outcome
		for _, rows := range [][]string{first, second} {
			o.loads = append(o.loads, s.loadPhones(rows, general))
		}
		o.phones = s.phones(0)
		return o
	}
	direct, staged := run(false), run(true)
	for i := range direct.loads {
		d, g := direct.loads[i], staged.loads[i]
		if !reflect.DeepEqual(d.errors, g.errors) || d.rowsRead != g.rowsRead {
			t.Errorf("load %d: row errors differ:\n direct %d read, %s\n staged %d read, %s", i+1,
				d.rowsRead, js(d.errors), g.rowsRead, js(g.errors))
		}
		if !reflect.DeepEqual(d.warnings, g.warnings) {
			t.Errorf("load %d: warnings differ:\n direct %s\n staged %s", i+1, js(d.warnings), js(g.warnings))
		}
		if d.results != g.results {
			t.Errorf("load %d: results differ: direct %+v, staged %+v", i+1, d.results, g.results)
		}
		if d.stats != g.stats {
			t.Errorf("load %d: statistics differ:\n direct %s\n staged %s", i+1, js(d.stats), js(g.stats))
		}
	}
	if !reflect.DeepEqual(direct.phones, staged.phones) {
		t.Errorf("phones differ:\n direct %s\n staged %s", js(direct.phones), js(staged.phones))
	}

	// What both should be, worked out by hand.
	wantErrs := []int64{15}
	var gotErrs []int64
	for _, e := range direct.loads[0].errors {
		gotErrs = append(gotErrs, e.Line)
	}
	if !reflect.DeepEqual(gotErrs, wantErrs) {
		t.Errorf("first load: row errors on lines %v, want %v (%s)", gotErrs, wantErrs, js(direct.loads[0].errors))
	}
	idx := 0
	wantWarnings := []storage.RowError{
		{Line: 4, ActionIndex: &idx, Column: "PreferredPhone", Message: demotedBy(5)},
		{Line: 6, ActionIndex: &idx, Column: "PreferredPhone", Message: demotedBy(10)},
		{Line: 8, ActionIndex: &idx, Column: "PreferredPhone", Message: demotedBy(12)},
	}
	if got := direct.loads[0].warnings; !reflect.DeepEqual(got, wantWarnings) {
		t.Errorf("first load: warnings\n got %s\nwant %s", js(got), js(wantWarnings))
	}
	if got, want := direct.loads[1].warnings, []storage.RowError{{Line: 2, ActionIndex: &idx, Column: "PreferredPhone", Message: demotedBy(3)}}; !reflect.DeepEqual(got, want) {
		t.Errorf("second load: warnings\n got %s\nwant %s", js(got), js(want))
	}
	want := []fileload.PhoneStatistics{
		// 16 rows, 1 invalid; 2's and 7's numbers listed twice; 99's two are nobody's.
		{TotalRows: 16, ValidRows: 15, InvalidRows: 1, DuplicateRows: 2, MatchedRows: 11, UnmatchedRows: 2,
			PhonesAdded: 10, PhonesUpdated: 1, PreferredSet: 7, PreferredCleared: 1},
		{TotalRows: 12, ValidRows: 11, InvalidRows: 1, DuplicateRows: 2, MatchedRows: 8, UnmatchedRows: 1,
			PhonesAdded: 7, PhonesUpdated: 1, PreferredSet: 4, PreferredCleared: 1},
	}
	for i, w := range want {
		if got := direct.loads[i].stats; got != w {
			t.Errorf("load %d: statistics\n got %s\nwant %s", i+1, js(got), js(w))
		}
	}
	preferred := map[int64]string{}
	for _, p := range direct.phones {
		if p.Preferred {
			if n, ok := preferred[p.VANID]; ok {
				t.Errorf("VANID %d has two preferred phones, %s and %s", p.VANID, n, p.Phone)
			}
			preferred[p.VANID] = p.Phone
		}
	}
	wantPreferred := map[int64]string{1: "6125550141", 2: "6125550102", 3: "6125550113", 4: "6125550124", 5: "6125550115",
		7: "6125550107", 9: "6125550109", 10: "6125550110", 12: "6125550112"}
	if !reflect.DeepEqual(preferred, wantPreferred) {
		t.Errorf("preferred phones %v, want %v", preferred, wantPreferred)
	}
	// The demoted rows' numbers are loaded, not preferred.
	demotedNumbers := map[int64]string{1: "6125550131", 3: "6125550103", 4: "6125550104"}
	for _, p := range direct.phones {
		if demotedNumbers[p.VANID] == p.Phone {
			if p.Preferred {
				t.Errorf("VANID %d: %s is preferred, want it demoted", p.VANID, p.Phone)
			}
			delete(demotedNumbers, p.VANID)
		}
	}
	if len(demotedNumbers) != 0 {
		t.Errorf("demoted numbers not loaded: %v", demotedNumbers)
	}
}

type phoneLoad struct {
	rowsRead int64
	errors   []storage.RowError
	warnings []storage.RowError
	results  fileload.ActionResults
	stats    fileload.PhoneStatistics
}

// loadPhones loads phonesFile rows (header included) and returns what the
// job reports. general adds a Score action over a blank column beside it,
// which makes the load stage its rows.
func (s *stack) loadPhones(rows []string, general bool) phoneLoad {
	s.t.Helper()
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(phonesHeader, "\r\n") + ",Score\r\n")
	for _, r := range rows {
		b.WriteString(r + ",\r\n")
	}
	req := strings.Replace(phonesExampleRequest(s.serve(fmt.Sprintf("/phones-%d.csv", len(s.served)), []byte(b.String()))),
		`{ "name": "SonarScore" }`, `{ "name": "SonarScore" }, { "name": "Score" }`, 1)
	if general {
		score := s.rangeScore(fmt.Sprintf("Beside phones %d", len(s.served)), 0, 100)
		req = strings.Replace(req, `"actionType": "phonesFile"
    }`, fmt.Sprintf(`"actionType": "phonesFile"
    },
    {"actionType": "Score", "personIdColumn": "VANID", "personIdType": "VANID", "scoreColumn": "Score", "scoreId": %d}`, score), 1)
	}
	id := s.submit(req)
	v := s.wait(id)
	if v.Status != "Completed" || v.Actions[0].Results == nil || len(v.Actions) != map[bool]int{false: 1, true: 2}[general] {
		s.t.Fatalf("phones load: %s %s, %d actions", v.Status, deref(v.Message), len(v.Actions))
	}
	out := phoneLoad{rowsRead: v.RowsRead, results: *v.Actions[0].Results}
	for _, e := range v.Errors {
		// The Score action's own errors (a VANID that is not one) aside.
		if e.ActionIndex == nil || *e.ActionIndex == 0 {
			out.errors = append(out.errors, e)
		}
	}
	out.warnings = v.Warnings
	resp, body := s.do(http.MethodGet, fmt.Sprintf("/v4/fileLoadingJobs/%d/stats", id), "")
	var st fileload.PhoneStatsView
	if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != http.StatusOK || st.Statistics == nil {
		s.t.Fatalf("GET stats: %d %s", resp.StatusCode, body)
	}
	out.stats = *st.Statistics
	return out
}

// TestPhonesDeactivatedCodesLoadAsDefaults: a phone code-list value an
// operator deactivated behaves as a value the list does not know, on both
// paths: the row loads with the default (PhoneType Home, PhoneSource Bulk,
// PhoneOptInStatus Unknown) and carries a warning per cell, not a row
// error. Only while the default itself is deactivated is such a row an
// error.
func TestPhonesDeactivatedCodesLoadAsDefaults(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(4, 0)
	setActive(t, s, storage.TargetTypePhoneType, "W", false)
	setActive(t, s, storage.TargetTypePhoneSource, "Appended", false)
	setActive(t, s, storage.TargetTypePhoneOptInStatus, "O", false)
	rows := []string{
		"1,Work,Appended,6125550101,1,,Opt Out,",  // 2: deactivated, by name
		"2,W,appended,6125550102,0,,O,",           // 3: deactivated, by code and in another case
		"3,Cell,Voter File,6125550103,0,,Opt In,", // 4: active values
		"3,Fax,Bulk,6125550113,0,,,",              // 5: unknown, as the deactivated ones
	}
	idx := 0
	w := func(line int64, column, message string) storage.RowError {
		return storage.RowError{Line: line, ActionIndex: &idx, Column: column, Message: message}
	}
	wantWarnings := []storage.RowError{
		w(2, "PhoneType", `PhoneType "Work" is deactivated in the code list; loaded as Home`),
		w(2, "PhoneSource", `PhoneSource "Appended" is deactivated in the code list; loaded as Bulk`),
		w(2, "PhoneOptInStatus", `PhoneOptInStatus "Opt Out" is deactivated in the code list; loaded as Unknown`),
		w(3, "PhoneType", `PhoneType "W" is deactivated in the code list; loaded as Home`),
		w(3, "PhoneSource", `PhoneSource "appended" is deactivated in the code list; loaded as Bulk`),
		w(3, "PhoneOptInStatus", `PhoneOptInStatus "O" is deactivated in the code list; loaded as Unknown`),
		w(5, "PhoneType", `PhoneType "Fax" is not a value of the code list; loaded as Home`),
	}
	wantPhones := []phoneRow{
		{1, "6125550101", "H", "Bulk", true, nil, "U", i16(5)},
		{2, "6125550102", "H", "Bulk", false, nil, "U", i16(5)},
		{3, "6125550103", "C", "VoterFile", false, nil, "I", i16(5)},
		{3, "6125550113", "H", "Bulk", false, nil, "U", i16(5)},
	}
	for _, general := range []bool{false, true} {
		path := map[bool]string{false: "direct", true: "staged"}[general]
		truncatePhones(t, s)
		l := s.loadPhones(rows, general)
		if len(l.errors) != 0 || l.results.RowsValid != 4 {
			t.Errorf("%s: row errors %s, %d valid rows; want none and 4", path, js(l.errors), l.results.RowsValid)
		}
		if !reflect.DeepEqual(l.warnings, wantWarnings) {
			t.Errorf("%s: warnings\n got %s\nwant %s", path, js(l.warnings), js(wantWarnings))
		}
		if got := s.phones(0); !reflect.DeepEqual(got, wantPhones) {
			t.Errorf("%s: phones\n got %s\nwant %s", path, js(got), js(wantPhones))
		}
	}

	// With the default deactivated as well, there is nothing to load a
	// deactivated or blank PhoneType as.
	setActive(t, s, storage.TargetTypePhoneType, "H", false)
	rows = []string{
		"4,Work,Bulk,6125550104,0,,,", // 2
		"4,,Bulk,6125550124,0,,,",     // 3
		"4,Cell,Bulk,6125550114,0,,,", // 4
	}
	wantErrs := []storage.RowError{
		w(2, "PhoneType", "PhoneType defaults to Home, which is deactivated"),
		w(3, "PhoneType", "PhoneType defaults to Home, which is deactivated"),
	}
	for _, general := range []bool{false, true} {
		path := map[bool]string{false: "direct", true: "staged"}[general]
		truncatePhones(t, s)
		l := s.loadPhones(rows, general)
		if !reflect.DeepEqual(l.errors, wantErrs) || len(l.warnings) != 0 {
			t.Errorf("%s, default deactivated: row errors %s, warnings %s\nwant errors %s and no warnings", path, js(l.errors), js(l.warnings), js(wantErrs))
		}
		if got, want := s.phones(0), []phoneRow{{4, "6125550114", "C", "Bulk", false, nil, "U", i16(5)}}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s, default deactivated: phones\n got %s\nwant %s", path, js(got), js(want))
		}
	}
}

// Loading phones again rewrites only the phones whose values changed: an
// unchanged phone keeps its updated_at, a changed one is updated, a new one
// added, and the statistics are those of an upsert of every row (an
// unchanged phone counts as updated), on both paths.
func TestPhonesReloadRewritesOnlyWhatChanged(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(5, 0)
	first := []string{
		"1,Cell,Bulk,6125550101,1,,Opt In,4",
		"2,Home,Bulk,6125550102,0,,,",
		"3,Work,Bulk,6125550103,0,,,",
	}
	again := []string{
		"1,Cell,Bulk,6125550101,1,,Opt In,4", // unchanged
		"2,Cell,Bulk,6125550102,0,,,",        // its type changed
		"3,Work,Bulk,6125550103,0,,,",        // unchanged
		"4,Home,Bulk,6125550104,0,,,",        // new
		"9,Home,Bulk,6125550109,0,,,",        // nobody
	}
	ctx := context.Background()
	stamps := func() map[int64]string {
		rows, err := s.env.Pool.Query(ctx, `SELECT vanid, updated_at::text FROM van_phones WHERE db_mode = 0`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[int64]string{}
		for rows.Next() {
			var v int64
			var at string
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatal(err)
			}
			out[v] = at
		}
		return out
	}
	for _, general := range []bool{false, true} {
		truncatePhones(t, s)
		s.loadPhones(first, general)
		before := stamps()
		l := s.loadPhones(again, general)
		after := stamps()
		want := fileload.PhoneStatistics{TotalRows: 5, ValidRows: 5, MatchedRows: 4, UnmatchedRows: 1,
			PhonesAdded: 1, PhonesUpdated: 3, PreferredSet: 1}
		if l.stats != want {
			t.Errorf("general=%v: statistics %s, want %s", general, js(l.stats), js(want))
		}
		for _, v := range []int64{1, 3} {
			if after[v] != before[v] {
				t.Errorf("general=%v: unchanged phone of %d rewritten: updated_at %s → %s", general, v, before[v], after[v])
			}
		}
		if after[2] == before[2] {
			t.Errorf("general=%v: changed phone of 2 kept updated_at %s", general, before[2])
		}
		if _, ok := after[4]; !ok {
			t.Errorf("general=%v: new phone of 4 not added", general)
		}
		if got := s.phones(0); len(got) != 4 || got[1].Type != "C" {
			t.Errorf("general=%v: phones after the re-load: %s", general, js(got))
		}
	}
}
