package van_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/storage"
)

// avevExampleRequest is VAN's AVEVDataFile example, verbatim but for the
// source URL (ours) and the listener address (VAN's is the
// placeholder "your email").
func avevExampleRequest(sourceURL string) string {
	return fmt.Sprintf(`{
  "description": "Load AV/EV Data",
  "listeners": [{"type": "email", "value": "avev@example.org" }],
  "file":
  {
    "columnDelimiter": "Csv",
    "fileName": "avev-file.csv",
    "sourceUrl": %q,
    "hasHeader": false,
    "columns": [
      { "name": "VANID" },
      { "name": "RequestReceived" },
      { "name": "BallotMailed" },
      { "name": "BallotReceived" },
      { "name": "EarlyVoted" },
      { "name": "BallotParty" },
      { "name": "BallotCancelled" },
      { "name": "ApplicationMailed" },
      { "name": "GOTVVoted" },
      { "name": "DateApplicationReceived" },
      { "name": "BallotReturnStatus" },
      { "name": "BallotType"},
      { "name": "BallotRequestType"},
      { "name": "BallotAddress1"},
      { "name": "BallotAddress2"},
      { "name": "BallotAddress3"},
      { "name": "BallotCity"},
      { "name": "BallotState"},
      { "name": "BallotZip9"},
      { "name": "BallotCountry"},
      { "name": "BallotReissued"},
      { "name": "BallotRejectionReason"},
      { "name": "BallotApplicationRequested"},
      { "name": "BallotRejected"}
    ]
  },
  "actions":
  [
    {
      "actionType": "AVEVDataFile"
    }
  ]
}`, sourceURL)
}

var avevExampleColumns = []string{"VANID", "RequestReceived", "BallotMailed", "BallotReceived", "EarlyVoted", "BallotParty",
	"BallotCancelled", "ApplicationMailed", "GOTVVoted", "DateApplicationReceived", "BallotReturnStatus", "BallotType",
	"BallotRequestType", "BallotAddress1", "BallotAddress2", "BallotAddress3", "BallotCity", "BallotState", "BallotZip9",
	"BallotCountry", "BallotReissued", "BallotRejectionReason", "BallotApplicationRequested", "BallotRejected"}

// avevLine is one CSV line of the VAN example's columns; cells not given
// are blank.
func avevLine(cells map[string]string) string {
	out := make([]string, len(avevExampleColumns))
	for i, c := range avevExampleColumns {
		out[i] = cells[c]
	}
	return strings.Join(out, ",") + "\r\n"
}

func truncateAVEV(t *testing.T, s *stack) {
	if _, err := s.env.Pool.Exec(context.Background(), `TRUNCATE van_avev`); err != nil {
		t.Fatal(err)
	}
}

// setActive (de)activates a code of a code list for the test's duration.
func setActive(t *testing.T, s *stack, typeName, code string, active bool) {
	ctx := context.Background()
	typ, err := s.env.Store.TargetTypeByName(ctx, typeName)
	if err != nil {
		t.Fatal(err)
	}
	id := phoneCode(t, s, typ.ID, code)
	by := storage.TargetActor{Source: storage.TargetSourceCLI, UserName: "test"}
	if _, err := s.env.Store.UpdateTargetValue(ctx, typ.ID, id, storage.TargetValueUpdate{Active: &active}, by); err != nil {
		t.Fatal(err)
	}
	restore := !active
	t.Cleanup(func() {
		_, _ = s.env.Store.UpdateTargetValue(ctx, typ.ID, id, storage.TargetValueUpdate{Active: &restore}, by)
	})
}

type avevRecord struct {
	VANID                                         int64
	RequestReceived, BallotMailed, BallotReceived *string
	Party                                         *string
	ReturnStatus, BallotType, RequestType, Reject *int32
	Address1, City, State, Zip9, Country          *string
}

func (s *stack) avev() []avevRecord {
	s.t.Helper()
	rows, err := s.env.Pool.Query(context.Background(), `SELECT vanid, request_received::text, ballot_mailed::text, ballot_received::text,
		ballot_party, ballot_return_status_id, ballot_type_id, ballot_request_type_id, ballot_rejection_reason_id,
		ballot_address1, ballot_city, ballot_state, ballot_zip9, ballot_country FROM van_avev ORDER BY vanid`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []avevRecord
	for rows.Next() {
		var r avevRecord
		if err := rows.Scan(&r.VANID, &r.RequestReceived, &r.BallotMailed, &r.BallotReceived, &r.Party, &r.ReturnStatus, &r.BallotType,
			&r.RequestType, &r.Reject, &r.Address1, &r.City, &r.State, &r.Zip9, &r.Country); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func i32(v int32) *int32 { return &v }

// TestAVEVVANExample runs VAN's AVEVDataFile example end to end with
// good rows, an unmatched VANID, a person's record replaced whole, and one
// bad row per rule, each with its exact error.
func TestAVEVVANExample(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	truncateAVEV(t, s)
	s.people(3, 0)
	setActive(t, s, storage.TargetTypeBallotReturnStatus, "14", false)
	if _, err := s.env.Pool.Exec(context.Background(), `INSERT INTO van_avev (db_mode, vanid, ballot_city, ballot_type_id, load_job_id) VALUES (0, 2, 'Old', 3, 0)`); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 41)
	csv := avevLine(map[string]string{"VANID": "1", "RequestReceived": "9/1/2024", "BallotMailed": "09/05/2024", "BallotReceived": "2024-10-01",
		"BallotParty": "d", "BallotReturnStatus": "2", "BallotType": "1", "BallotRequestType": "4", "BallotRejectionReason": "",
		"BallotAddress1": "12 Main St", "BallotCity": "Saint Paul", "BallotState": "mn", "BallotZip9": "55101-1234", "BallotCountry": "us"}) +
		avevLine(map[string]string{"VANID": "2", "BallotParty": "AI"}) +
		avevLine(map[string]string{"VANID": "99", "BallotParty": "R"}) +
		avevLine(map[string]string{"VANID": "3", "RequestReceived": "13/01/2024"}) + // line 4
		avevLine(map[string]string{"VANID": "3", "BallotParty": "DEM"}) +
		avevLine(map[string]string{"VANID": "3", "BallotParty": "Q"}) +
		avevLine(map[string]string{"VANID": "3", "BallotReturnStatus": "14"}) +
		avevLine(map[string]string{"VANID": "3", "BallotType": "99"}) +
		avevLine(map[string]string{"VANID": "3", "BallotAddress1": long}) +
		avevLine(map[string]string{"VANID": "3", "BallotCity": strings.Repeat("c", 26)}) +
		avevLine(map[string]string{"VANID": "3", "BallotState": "Minn"}) +
		avevLine(map[string]string{"VANID": "3", "BallotZip9": "5510"}) +
		avevLine(map[string]string{"VANID": "3", "BallotCountry": "XX"}) +
		avevLine(map[string]string{"VANID": "", "BallotCountry": "US"}) +
		avevLine(map[string]string{"VANID": "3", "BallotRejectionReason": "two"}) // line 15
	u := s.serve("/avev-file.zip", zipOf(t, "avev-file.csv", csv))
	id := s.submit(avevExampleRequest(u))
	v := s.wait(id)
	if v.Status != "Completed" {
		t.Fatalf("job %s (%s)", v.Status, deref(v.Message))
	}
	type e struct {
		Line    int64
		Column  string
		Message string
	}
	want := []e{
		{4, "RequestReceived", `RequestReceived "13/01/2024" is not a date (M/D/YYYY, MM/DD/YYYY or YYYY-MM-DD)`},
		{5, "BallotParty", `BallotParty "DEM" must be a one- or two-character party code`},
		{6, "BallotParty", `BallotParty "Q" is not a value of the party code list`},
		{7, "BallotReturnStatus", `BallotReturnStatus "14" (Not Voted) is deactivated in the ballotReturnStatus code list`},
		{8, "BallotType", `BallotType "99" is not a value of the ballotType code list`},
		{9, "BallotAddress1", "BallotAddress1 is longer than 40 characters"},
		{10, "BallotCity", "BallotCity is longer than 25 characters"},
		{11, "BallotState", `BallotState "MINN" is not a two-letter state code`},
		{12, "BallotZip9", `BallotZip9 "5510" is not a ZIP or ZIP+4 (12345, 12345-6789 or 123456789)`},
		{13, "BallotCountry", `BallotCountry "XX" is not an ISO 3166-1 two-letter country code`},
		{14, "VANID", "VANID is blank"},
		{15, "BallotRejectionReason", `BallotRejectionReason "two" is not an integer id`},
	}
	var got []e
	for _, re := range v.Errors {
		got = append(got, e{re.Line, re.Column, re.Message})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row errors:\n got %s\nwant %s", js(got), js(want))
	}
	wantRecs := []avevRecord{
		{VANID: 1, RequestReceived: sp("2024-09-01"), BallotMailed: sp("2024-09-05"), BallotReceived: sp("2024-10-01"), Party: sp("D"),
			ReturnStatus: i32(2), BallotType: i32(1), RequestType: i32(4), Address1: sp("12 Main St"), City: sp("Saint Paul"),
			State: sp("MN"), Zip9: sp("55101-1234"), Country: sp("US")},
		{VANID: 2, Party: sp("AI")}, // the old city and ballot type are replaced by the row's blanks
	}
	if got := s.avev(); !reflect.DeepEqual(got, wantRecs) {
		t.Errorf("records:\n got %s\nwant %s", js(got), js(wantRecs))
	}
	if r := v.Actions[0].Results; r == nil || r.Matched != 2 || r.Unmatched != 1 || r.RowsValid != 3 || r.RowsInvalid != 12 {
		t.Errorf("action results = %s", js(v.Actions[0].Results))
	}
	mails := s.smtp.WaitFor(t, 1)
	if mails[0].To[0] != "avev@example.org" {
		t.Errorf("email to %v", mails[0].To)
	}
}

// TestAVEVDeactivatedValuesHaveNoDefault: VAN gives a default for unknown
// values of the phone code lists only; the AV/EV code columns (BallotParty
// and the four ballot id lists) have none. So a deactivated value there
// behaves as an unknown one does, a row error, and there is no warning to
// give (nothing is loaded in its place); the person's other rows load.
func TestAVEVDeactivatedValuesHaveNoDefault(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	truncateAVEV(t, s)
	s.people(1, 0)
	setActive(t, s, storage.TargetTypeParty, "G", false)
	setActive(t, s, storage.TargetTypeBallotReturnStatus, "9", false)
	setActive(t, s, storage.TargetTypeBallotType, "6", false)
	setActive(t, s, storage.TargetTypeBallotRequestType, "3", false)
	setActive(t, s, storage.TargetTypeBallotRejectionReason, "8", false)
	csv := avevLine(map[string]string{"VANID": "1", "BallotParty": "G"}) +
		avevLine(map[string]string{"VANID": "1", "BallotReturnStatus": "9"}) +
		avevLine(map[string]string{"VANID": "1", "BallotType": "6"}) +
		avevLine(map[string]string{"VANID": "1", "BallotRequestType": "3"}) +
		avevLine(map[string]string{"VANID": "1", "BallotRejectionReason": "8"}) +
		avevLine(map[string]string{"VANID": "1", "BallotParty": "R", "BallotType": "1"}) // line 6: loads
	v := s.wait(s.submit(avevExampleRequest(s.serve("/deactivated.zip", zipOf(t, "avev-file.csv", csv)))))
	if v.Status != "Completed" {
		t.Fatalf("job %s (%s)", v.Status, deref(v.Message))
	}
	type e struct {
		Line    int64
		Column  string
		Message string
	}
	want := []e{
		{1, "BallotParty", `BallotParty "G" (Green) is deactivated in the party code list`},
		{2, "BallotReturnStatus", `BallotReturnStatus "9" (Cured) is deactivated in the ballotReturnStatus code list`},
		{3, "BallotType", `BallotType "6" (Military) is deactivated in the ballotType code list`},
		{4, "BallotRequestType", `BallotRequestType "3" (Online) is deactivated in the ballotRequestType code list`},
		{5, "BallotRejectionReason", `BallotRejectionReason "8" (Not Registered) is deactivated in the ballotRejectionReason code list`},
	}
	var got []e
	for _, re := range v.Errors {
		got = append(got, e{re.Line, re.Column, re.Message})
	}
	if !reflect.DeepEqual(got, want) || v.ErrorCount != 5 || len(v.Warnings) != 0 || v.WarningCount != 0 {
		t.Errorf("row errors:\n got %s (errorCount %d), warnings %s\nwant %s and no warnings", js(got), v.ErrorCount, js(v.Warnings), js(want))
	}
	if recs := s.avev(); len(recs) != 1 || deref(recs[0].Party) != "R" || recs[0].BallotType == nil || *recs[0].BallotType != 1 {
		t.Errorf("records %s, want line 6's", js(recs))
	}
}

// TestAVEVStateFileID: StateFileID rows match people by their state file
// id; only the required columns need be present.
func TestAVEVStateFileID(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	truncateAVEV(t, s)
	s.people(2, 0)
	cols := `[{"name":"StateFileID"},{"name":"RequestReceived"},{"name":"BallotMailed"},{"name":"BallotReceived"},{"name":"EarlyVoted"},
		{"name":"BallotParty"},{"name":"BallotCancelled"},{"name":"ApplicationMailed"},{"name":"GOTVVoted"},{"name":"DateApplicationReceived"}]`
	u := s.serve("/sf.csv", []byte("StateFileID,RequestReceived,BallotMailed,BallotReceived,EarlyVoted,BallotParty,BallotCancelled,ApplicationMailed,GOTVVoted,DateApplicationReceived\n"+
		"SF2,,,,10/20/2024,R,,,,\nSF9,,,,,,,,,\n"))
	body := fmt.Sprintf(`{"file":{"sourceUrl":%q,"hasHeader":true,"columns":%s},"actions":[{"actionType":"avevdatafile"}]}`, u, cols)
	v := s.wait(s.submit(body))
	if v.Status != "Completed" || v.ErrorCount != 0 {
		t.Fatalf("job %s (%s) errors %s", v.Status, deref(v.Message), js(v.Errors))
	}
	var vanid int64
	var early, party string
	if err := s.env.Pool.QueryRow(context.Background(), `SELECT vanid, early_voted::text, ballot_party FROM van_avev`).Scan(&vanid, &early, &party); err != nil {
		t.Fatal(err)
	}
	if vanid != 2 || early != "2024-10-20" || party != "R" {
		t.Errorf("record: vanid %d early %s party %s", vanid, early, party)
	}
	if r := v.Actions[0].Results; r == nil || r.Matched != 1 || r.Unmatched != 1 {
		t.Errorf("results = %s", js(r))
	}
}

// TestAVEVRequestValidation: VAN's file rules are checked when
// the job is submitted, every problem reported.
func TestAVEVRequestValidation(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	base := avevExampleRequest("https://example.org/avev-file.zip")
	cases := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"wrong column order", func(b string) string {
			b = strings.Replace(b, `{ "name": "BallotMailed" },`, `{ "name": "X1" },`, 1)
			b = strings.Replace(b, `{ "name": "BallotReceived" },`, `{ "name": "BallotMailed" },`, 1)
			return strings.Replace(b, `{ "name": "X1" },`, `{ "name": "BallotReceived" },`, 1)
		}, []string{"file.columns[3].name: BallotMailed must come before BallotReceived: AVEVDataFile columns keep VAN's order (" + allAVEV + ")"}},
		{"both id columns", func(b string) string {
			return strings.Replace(b, `{ "name": "VANID" },`, `{ "name": "VANID" }, { "name": "StateFileID" },`, 1)
		}, []string{"file.columns: actions[0] (AVEVDataFile) needs exactly one of VanID and StateFileID; the file has VANID and StateFileID"}},
		{"no id column", func(b string) string { return strings.Replace(b, `{ "name": "VANID" },`, ``, 1) },
			[]string{"file.columns: actions[0] (AVEVDataFile) needs exactly one of VanID and StateFileID; the file has neither"}},
		{"column casing", func(b string) string { return strings.Replace(b, `"BallotParty"`, `"ballotParty"`, 1) },
			[]string{`file.columns[5].name: "ballotParty" is not an AVEVDataFile column (actions[0]); names are case-sensitive: BallotParty`,
				"file.columns: actions[0] (AVEVDataFile) needs a BallotParty column (its cells may be blank)"}},
		{"unknown column", func(b string) string { return strings.Replace(b, `"BallotRejected"`, `"Notes"`, 1) },
			[]string{`file.columns[23].name: "Notes" is not an AVEVDataFile column (actions[0]); the columns are ` + allAVEV}},
		{"missing required", func(b string) string { return strings.Replace(b, `{ "name": "GOTVVoted" },`, ``, 1) },
			[]string{"file.columns: actions[0] (AVEVDataFile) needs a GOTVVoted column (its cells may be blank)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := s.do(http.MethodPost, "/v4/fileLoadingJobs", c.edit(base))
			var out struct{ Errors []struct{ Text string } }
			_ = json.Unmarshal(b, &out)
			var got []string
			for _, e := range out.Errors {
				got = append(got, e.Text)
			}
			if resp.StatusCode != http.StatusBadRequest || !reflect.DeepEqual(got, c.want) {
				t.Errorf("POST: %d\n got %q\nwant %q", resp.StatusCode, got, c.want)
			}
		})
	}
}

const allAVEV = "VanID (or VANID), StateFileID, RequestReceived, BallotMailed, BallotReceived, EarlyVoted, BallotParty, BallotCancelled, " +
	"ApplicationMailed, GOTVVoted, DateApplicationReceived, BallotReturnStatus, BallotType, BallotRequestType, BallotAddress1, BallotAddress2, " +
	"BallotAddress3, BallotCity, BallotState, BallotZip9, BallotCountry, BallotReissued, BallotRejectionReason, BallotApplicationRequested, BallotRejected"
