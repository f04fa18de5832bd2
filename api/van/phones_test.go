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

// phonesExampleRequest is VAN's phonesFile example, verbatim but for the
// source URL (ours) and the listener address (VAN's text carries a
// scrubbed "[email protected]").
func phonesExampleRequest(sourceURL string) string {
	return fmt.Sprintf(`{
  "description": "VF Phone Load",
  "listeners": [{"type": "email", "value": "phones@example.org" }],
  "file":
  {
    "columnDelimiter": "Csv",
    "fileName": "vf-phone-load.csv",
    "sourceUrl": %q,
    "hasHeader": true,
    "columns": [
      { "name": "VANID" },
      { "name": "PhoneType" },
      { "name": "PhoneSource" },
      { "name": "Phone" },
      { "name": "PreferredPhone" },
      { "name": "PhoneExt" },
      { "name": "PhoneOptInStatus" },
      { "name": "SonarScore" }
    ]
  },
  "actions":
  [
    {
      "actionType": "phonesFile"
    }
  ]
}`, sourceURL)
}

const phonesHeader = "VANID,PhoneType,PhoneSource,Phone,PreferredPhone,PhoneExt,PhoneOptInStatus,SonarScore\r\n"

type phoneRow struct {
	VANID     int64
	Phone     string
	Type      string
	Source    string
	Preferred bool
	Ext       *string
	OptIn     string
	Sonar     *int16
}

func (s *stack) phones(mode int16) []phoneRow {
	s.t.Helper()
	rows, err := s.env.Pool.Query(context.Background(), `SELECT vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score
		FROM van_phones WHERE db_mode = $1 ORDER BY vanid, phone`, mode)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []phoneRow
	for rows.Next() {
		var p phoneRow
		if err := rows.Scan(&p.VANID, &p.Phone, &p.Type, &p.Source, &p.Preferred, &p.Ext, &p.OptIn, &p.Sonar); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func truncatePhones(t *testing.T, s *stack) {
	if _, err := s.env.Pool.Exec(context.Background(), `TRUNCATE van_phones`); err != nil {
		t.Fatal(err)
	}
}

func sp(s string) *string { return &s }
func i16(v int16) *int16  { return &v }

// TestPhonesVANExample runs VAN's phonesFile example end to end: the
// defaults for blank and unknown codes, the NANP pattern, one preferred
// phone per contact (in the file and against the database), upsert per
// (person, number), unmatched VANIDs, statistics and the listener.
func TestPhonesVANExample(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	truncatePhones(t, s)
	s.people(5, 0)
	ctx := context.Background()
	// Person 2 already has a preferred phone, and person 1 has the number
	// the file updates.
	if _, err := s.env.Pool.Exec(ctx, `INSERT INTO van_phones (db_mode, vanid, phone, phone_type, phone_source, preferred, opt_in_status, sonar_score)
		VALUES (0, 2, '7185550100', 'H', 'Bulk', true, 'U', 5), (0, 1, '6125550102', 'W', 'Bulk', false, 'O', 1)`); err != nil {
		t.Fatal(err)
	}
	csv := phonesHeader +
		"1,Cell,Voter File,6125550101,1,,Opt In,4\r\n" + // line 2
		"1,home,,16125550102,0,12,,\r\n" + // 3: updates the existing number; SonarScore blank → 5
		"2,,,2025550103,true,,,\r\n" + // 4: blank codes → Home, Bulk, Unknown; takes preferred from 7185550100
		"2,Pager,Carrier pigeon,2025550104,0,x1,Maybe,3\r\n" + // 5: unknown codes → defaults, with warnings
		"3,Work,Bulk,3125550105,1,,,\r\n" + // 6: a later preferred row for another number → loaded not preferred, a warning
		"3,Cell,Appended,3125550106,1,,,\r\n" + // 7: keeps the preferred mark
		"99,Cell,Bulk,4155550107,0,,,\r\n" + // 8: no such person → unmatched
		"4,Cell,Bulk,1235550108,0,,,\r\n" + // 9: bad area code
		"4,Cell,Bulk,4155550109,0,,,2\r\n" + // 10: duplicate of line 11's number
		"4,Work,User Added,4155550109,0,,Opt Out,\r\n" // 11
	u := s.serve("/vf-phone-load.zip", zipOf(t, "vf-phone-load.csv", csv))
	id := s.submit(phonesExampleRequest(u))
	v := s.wait(id)
	if v.Status != "Completed" {
		t.Fatalf("job status %s (message %v), want Completed", v.Status, deref(v.Message))
	}
	idx := 0
	wantErrs := []storage.RowError{
		{Line: 9, ActionIndex: &idx, Column: "Phone", Message: `Phone "1235550108" is not a valid NANP number (^1?[2-9][0-8]\d[2-9]\d{6,6}$)`},
	}
	if !reflect.DeepEqual(v.Errors, wantErrs) {
		t.Errorf("row errors:\n got %s\nwant %s", js(v.Errors), js(wantErrs))
	}
	wantWarnings := []storage.RowError{
		{Line: 5, ActionIndex: &idx, Column: "PhoneType", Message: `PhoneType "Pager" is not a value of the code list; loaded as Home`},
		{Line: 5, ActionIndex: &idx, Column: "PhoneSource", Message: `PhoneSource "Carrier pigeon" is not a value of the code list; loaded as Bulk`},
		{Line: 5, ActionIndex: &idx, Column: "PhoneOptInStatus", Message: `PhoneOptInStatus "Maybe" is not a value of the code list; loaded as Unknown`},
		{Line: 6, ActionIndex: &idx, Column: "PreferredPhone", Message: demotedBy(7)},
	}
	if !reflect.DeepEqual(v.Warnings, wantWarnings) {
		t.Errorf("warnings:\n got %s\nwant %s", js(v.Warnings), js(wantWarnings))
	}
	if v.RowsRead != 10 || v.ErrorCount != 1 || v.WarningCount != 4 || deref(v.Message) != "success: 10 rows read, 1 row errors, 4 warnings" {
		t.Errorf("rowsRead %d errorCount %d warningCount %d message %q, want 10, 1, 4 and the counts", v.RowsRead, v.ErrorCount, v.WarningCount, deref(v.Message))
	}
	// The file at errorFileUrl lists both, told apart by severity: what each
	// row's own checks found in file order, then what the rules across rows
	// found.
	if v.ErrorFile == "" {
		t.Fatal("no errorFileUrl on a job with row errors and warnings")
	}
	resp, body := s.do(http.MethodGet, v.ErrorFile, "")
	wantFile := "line,actionIndex,column,message,severity\n" +
		`5,0,PhoneType,"PhoneType ""Pager"" is not a value of the code list; loaded as Home",Warning` + "\n" +
		`5,0,PhoneSource,"PhoneSource ""Carrier pigeon"" is not a value of the code list; loaded as Bulk",Warning` + "\n" +
		`5,0,PhoneOptInStatus,"PhoneOptInStatus ""Maybe"" is not a value of the code list; loaded as Unknown",Warning` + "\n" +
		`9,0,Phone,"Phone ""1235550108"" is not a valid NANP number (^1?[2-9][0-8]\d[2-9]\d{6,6}$)",Error` + "\n" +
		`6,0,PreferredPhone,"` + strings.ReplaceAll(demotedBy(7), `"`, `""`) + `",Warning` + "\n"
	if resp.StatusCode != http.StatusOK || string(body) != wantFile {
		t.Errorf("error file: %d\n%s\nwant\n%s", resp.StatusCode, body, wantFile)
	}
	want := []phoneRow{
		{1, "6125550101", "C", "VoterFile", true, nil, "I", i16(4)},
		{1, "6125550102", "H", "Bulk", false, sp("12"), "U", i16(5)},
		{2, "2025550103", "H", "Bulk", true, nil, "U", i16(5)},
		{2, "2025550104", "H", "Bulk", false, sp("x1"), "U", i16(3)},
		{2, "7185550100", "H", "Bulk", false, nil, "U", i16(5)},
		{3, "3125550105", "W", "Bulk", false, nil, "U", i16(5)},
		{3, "3125550106", "C", "Appended", true, nil, "U", i16(5)},
		{4, "4155550109", "W", "UserAdded", false, nil, "O", i16(5)},
	}
	if got := s.phones(0); !reflect.DeepEqual(got, want) {
		t.Errorf("phones:\n got %s\nwant %s", js(got), js(want))
	}
	resp, body = s.do(http.MethodGet, fmt.Sprintf("/v4/fileLoadingJobs/%d/stats", id), "")
	var stats fileload.PhoneStatsView
	_ = json.Unmarshal(body, &stats)
	wantStats := fileload.PhoneStatistics{TotalRows: 10, ValidRows: 9, InvalidRows: 1, DuplicateRows: 1, MatchedRows: 7,
		UnmatchedRows: 1, PhonesAdded: 6, PhonesUpdated: 1, PreferredSet: 3, PreferredCleared: 1}
	if resp.StatusCode != http.StatusOK || stats.Status != "Completed" || stats.Statistics == nil || *stats.Statistics != wantStats {
		t.Errorf("GET stats: %d %s\nwant statistics %s", resp.StatusCode, body, js(wantStats))
	}
	if r := v.Actions[0].Results; r == nil || r.Matched != 7 || r.Unmatched != 1 || r.RowsValid != 9 || r.RowsInvalid != 1 {
		t.Errorf("action results = %s", js(v.Actions[0].Results))
	}
	mails := s.smtp.WaitFor(t, 1)
	if mails[0].To[0] != "phones@example.org" || !strings.Contains(mails[0].Subject, fmt.Sprintf("File loading job %d: Successful", id)) {
		t.Errorf("email to %v subject %q", mails[0].To, mails[0].Subject)
	}

	// Loading the same file again changes nothing: upserts per (person, number).
	id2 := s.submit(phonesExampleRequest(u))
	if v := s.wait(id2); v.Status != "Completed" {
		t.Fatalf("second load: %s %v", v.Status, deref(v.Message))
	}
	if got := s.phones(0); !reflect.DeepEqual(got, want) {
		t.Errorf("after a second load, phones:\n got %s\nwant %s", js(got), js(want))
	}
}

// demotedBy is the warning on a preferred row whose number is loaded as
// not preferred because line keeper, a later row of the same contact, is
// preferred for another number.
func demotedBy(keeper int64) string {
	return fmt.Sprintf("line %d, a later row of this VANID, is marked preferred for another number; a contact has one preferred phone and the last preferred row keeps it, so this row's number is loaded as not preferred", keeper)
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestPhonesMyCampaignIgnoresSonarScore: SonarScore is a voter-file
// (dbMode 0) feature; a My Campaign load neither checks nor stores it.
func TestPhonesMyCampaignIgnoresSonarScore(t *testing.T) {
	s := newStack(t, options{allow: loopback, dbMode: 1})
	truncatePhones(t, s)
	s.people(1, 1)
	u := s.serve("/mc.zip", zipOf(t, "vf-phone-load.csv", phonesHeader+"1,Cell,Bulk,6125550101,1,,,9\r\n"))
	v := s.wait(s.submit(phonesExampleRequest(u)))
	if v.Status != "Completed" || v.ErrorCount != 0 {
		t.Fatalf("job %s (%s), %d errors %s", v.Status, deref(v.Message), v.ErrorCount, js(v.Errors))
	}
	want := []phoneRow{{1, "6125550101", "C", "Bulk", true, nil, "U", nil}}
	if got := s.phones(1); !reflect.DeepEqual(got, want) {
		t.Errorf("phones:\n got %s\nwant %s", js(got), js(want))
	}
}

// TestPhonesBadRows: every invalid row is reported with its column and
// reason, and the valid rows still load; a deactivated code-list value is
// a warning, not a row error.
func TestPhonesBadRows(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	truncatePhones(t, s)
	s.people(3, 0)
	ctx := context.Background()
	typ, err := s.env.Store.TargetTypeByName(ctx, storage.TargetTypePhoneType)
	if err != nil {
		t.Fatal(err)
	}
	work := phoneCode(t, s, typ.ID, "W")
	off, on := false, true
	by := storage.TargetActor{Source: storage.TargetSourceCLI, UserName: "test"}
	if _, err := s.env.Store.UpdateTargetValue(ctx, typ.ID, work, storage.TargetValueUpdate{Active: &off}, by); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = s.env.Store.UpdateTargetValue(ctx, typ.ID, work, storage.TargetValueUpdate{Active: &on}, by)
	})
	csv := phonesHeader +
		",Cell,Bulk,6125550101,0,,,\r\n" +
		"x,Cell,Bulk,6125550101,0,,,\r\n" +
		"1,Cell,Bulk,,0,,,\r\n" +
		"1,Cell,Bulk,612555010,0,,,\r\n" +
		"1,Cell,Bulk,(612) 555-0101,0,,,\r\n" +
		"1,Work,Bulk,6125550101,0,,,\r\n" +
		"1,Cell,Bulk,6125550101,yes,,,\r\n" +
		"1,Cell,Bulk,6125550101,0,1234567,,\r\n" +
		"1,Cell,Bulk,6125550101,0,,,0\r\n" +
		"1,Cell,Bulk,6125550101,0,,,high\r\n" +
		"1,Cell,Bulk,6125550101,1,,,\r\n" + // line 12: the good row
		"2,Cell,Bulk,6125550101,1\r\n"
	u := s.serve("/bad.zip", zipOf(t, "vf-phone-load.csv", csv))
	v := s.wait(s.submit(phonesExampleRequest(u)))
	if v.Status != "Completed" {
		t.Fatalf("job %s %v", v.Status, deref(v.Message))
	}
	type e struct {
		Line    int64
		Column  string
		Message string
	}
	want := []e{
		{2, "VANID", "VANID is blank"},
		{3, "VANID", `VANID "x" is not a positive integer`},
		{4, "Phone", "Phone is blank"},
		{5, "Phone", `Phone "612555010" is not a valid NANP number (^1?[2-9][0-8]\d[2-9]\d{6,6}$)`},
		{6, "Phone", `Phone "(612) 555-0101" is not a valid NANP number (^1?[2-9][0-8]\d[2-9]\d{6,6}$)`},
		{8, "PreferredPhone", `PreferredPhone "yes" must be 0, 1 or true`},
		{9, "PhoneExt", `PhoneExt "1234567" is longer than 6 characters`},
		{10, "SonarScore", `SonarScore "0" must be an integer from 1 to 5`},
		{11, "SonarScore", `SonarScore "high" must be an integer from 1 to 5`},
		{13, "", "has 5 fields, want 8 (file.columns); check the delimiter and quoting"},
	}
	var got []e
	for _, re := range v.Errors {
		got = append(got, e{re.Line, re.Column, re.Message})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row errors:\n got %s\nwant %s", js(got), js(want))
	}
	// A deactivated value is not an error: the row loads with the default.
	idx := 0
	wantWarnings := []storage.RowError{{Line: 7, ActionIndex: &idx, Column: "PhoneType", Message: `PhoneType "Work" is deactivated in the code list; loaded as Home`}}
	if !reflect.DeepEqual(v.Warnings, wantWarnings) {
		t.Errorf("warnings:\n got %s\nwant %s", js(v.Warnings), js(wantWarnings))
	}
	// Lines 7 and 12 are the good rows, of one number: the last one loads.
	if p := s.phones(0); len(p) != 1 || p[0].VANID != 1 || !p[0].Preferred || p[0].Type != "C" {
		t.Errorf("phones = %s, want line 12's", js(p))
	}
}

func phoneCode(t *testing.T, s *stack, typeID int64, code string) int64 {
	vals, err := s.env.Store.TargetValues(context.Background(), typeID, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vals {
		if v.Code == code {
			return v.ID
		}
	}
	t.Fatalf("no code %s", code)
	return 0
}

// TestPhonesRequestValidation: a phonesFile request whose file lacks
// required columns is refused at once, every missing column reported.
func TestPhonesRequestValidation(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	body := strings.Replace(phonesExampleRequest(s.files.URL+"/x.zip"), `{ "name": "Phone" },`, "", 1)
	body = strings.Replace(body, `{ "name": "PhoneExt" },`, "", 1)
	resp, b := s.do(http.MethodPost, "/v4/fileLoadingJobs", body)
	var out struct {
		Errors []struct{ Code, Text string }
	}
	_ = json.Unmarshal(b, &out)
	want := []string{
		"file.columns: actions[0] (phonesFile) needs a Phone column; the file has VANID, PhoneType, PhoneSource, PreferredPhone, PhoneOptInStatus, SonarScore",
		"file.columns: actions[0] (phonesFile) needs a PhoneExt column; the file has VANID, PhoneType, PhoneSource, PreferredPhone, PhoneOptInStatus, SonarScore",
	}
	var got []string
	for _, e := range out.Errors {
		got = append(got, e.Text)
	}
	if resp.StatusCode != http.StatusBadRequest || !reflect.DeepEqual(got, want) {
		t.Errorf("POST: %d %s\nwant 400 with %q", resp.StatusCode, b, want)
	}
	// Stats exist for phone loads only.
	s.people(1, 0)
	a, bb := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	u := s.serve("/h.zip", zipOf(t, "haberdashery.csv", exampleCSV(2)))
	id := s.submit(exampleRequest(u, a, bb, "[]"))
	s.wait(id)
	resp, b = s.do(http.MethodGet, fmt.Sprintf("/v4/fileLoadingJobs/%d/stats", id), "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "is not a phone-loading (phonesFile) job") {
		t.Errorf("stats of a score job: %d %s", resp.StatusCode, b)
	}
}

// TestPhonesColumnsAnyCaseAndOrder: phonesFile columns are found by name,
// case-insensitively and in any order; extra columns are ignored.
func TestPhonesColumnsAnyCaseAndOrder(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	truncatePhones(t, s)
	s.people(1, 0)
	u := s.serve("/lc.csv", []byte("phone,vanid,notes,phoneext,preferredphone,phonesource,phonetype\n6125550101,1,hello,7,1,appended,WORK\n"))
	body := fmt.Sprintf(`{"file":{"sourceUrl":%q,"hasHeader":true,"columns":[{"name":"phone"},{"name":"vanid"},{"name":"notes"},
		{"name":"phoneext"},{"name":"preferredphone"},{"name":"phonesource"},{"name":"phonetype"}]},"actions":[{"actionType":"PHONESFILE"}]}`, u)
	v := s.wait(s.submit(body))
	if v.Status != "Completed" || v.ErrorCount != 0 {
		t.Fatalf("job %s (%s) errors %s", v.Status, deref(v.Message), js(v.Errors))
	}
	want := []phoneRow{{1, "6125550101", "W", "Appended", true, sp("7"), "U", i16(5)}}
	if got := s.phones(0); !reflect.DeepEqual(got, want) {
		t.Errorf("phones:\n got %s\nwant %s", js(got), js(want))
	}
}
