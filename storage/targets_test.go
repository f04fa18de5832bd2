package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

var cli = storage.TargetActor{Source: storage.TargetSourceCLI, UserName: "cli:test"}

func logCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := testenv.Get(t).Pool.QueryRow(context.Background(), `SELECT count(*) FROM target_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSeededCodeListsAreReadableByName(t *testing.T) {
	s := testenv.Get(t).Store
	ctx := context.Background()
	want := map[string][]string{
		storage.TargetTypeBallotReturnStatus:    {"14"},
		storage.TargetTypeBallotType:            {"7"},
		storage.TargetTypeBallotRequestType:     {"4"},
		storage.TargetTypeBallotRejectionReason: {"1"},
		storage.TargetTypePhoneType:             {"H", "C", "W"},
		storage.TargetTypePhoneSource:           {"VoterFile", "UserAdded", "Bulk", "Appended", "VoterRegistration"},
		storage.TargetTypePhoneOptInStatus:      {"I", "U", "O"},
		storage.TargetTypeParty:                 {"D", "R", "I", "L", "G", "U"},
	}
	for typ, codes := range want {
		m, err := s.ActiveCodes(ctx, typ)
		if err != nil {
			t.Fatalf("ActiveCodes(%s): %v", typ, err)
		}
		for _, c := range codes {
			if m[c] == 0 {
				t.Errorf("%s lacks code %s: %v", typ, c, m)
			}
		}
	}
	vals, err := s.ActiveTargetValues(ctx, storage.TargetTypePhoneSource)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, v := range vals {
		names[v.Name] = true
	}
	for _, n := range []string{"Voter File", "User Added", "Bulk", "Appended", "Voter Registration"} {
		if !names[n] {
			t.Errorf("phone sources lack VAN's name %q", n)
		}
	}
	if _, err := s.ActiveCodes(ctx, "noSuchList"); !fault.Is(err, fault.NotFound) {
		t.Errorf("ActiveCodes of an unknown list: %v, want NotFound", err)
	}
}

func TestDeactivatedValueLeavesActiveCodes(t *testing.T) {
	s := testenv.Get(t).Store
	ctx := context.Background()
	v, err := s.InsertTargetValue(ctx, storage.TargetValue{TypeID: 9, Name: "Soon gone", Code: "soon_gone", Active: true}, cli)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := s.ActiveCodes(ctx, "interest"); m["soon_gone"] != v.ID {
		t.Fatalf("active codes %v lack the new value %d", m, v.ID)
	}
	off := false
	if _, err := s.UpdateTargetValue(ctx, 9, v.ID, storage.TargetValueUpdate{Active: &off}, cli); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.ActiveCodes(ctx, "interest"); m["soon_gone"] != 0 {
		t.Errorf("a deactivated value is still an active code: %v", m)
	}
}

// A change and its log row are one transaction: when the log row cannot be
// written, the change is not made either.
func TestChangeAndLogRowCommitTogether(t *testing.T) {
	s := testenv.Get(t).Store
	ctx := context.Background()
	bogus := storage.TargetActor{Source: "BOGUS", UserName: "x"} // refused by the log's CHECK
	before := logCount(t)

	if _, err := s.InsertTargetValue(ctx, storage.TargetValue{TypeID: 9, Name: "Unlogged", Code: "unlogged", Active: true}, bogus); err == nil {
		t.Fatal("insert with an unloggable actor succeeded")
	}
	if m, _ := s.ActiveCodes(ctx, "interest"); m["unlogged"] != 0 {
		t.Errorf("the value was written without its log row")
	}

	v, err := s.InsertTargetValue(ctx, storage.TargetValue{TypeID: 9, Name: "Logged", Code: "logged", Active: true}, cli)
	if err != nil {
		t.Fatal(err)
	}
	name := "Renamed without a log"
	if _, err := s.UpdateTargetValue(ctx, 9, v.ID, storage.TargetValueUpdate{Name: &name}, bogus); err == nil {
		t.Fatal("update with an unloggable actor succeeded")
	}
	if got, _ := s.TargetValue(ctx, 9, v.ID); got.Name != "Logged" {
		t.Errorf("the update was applied without its log row: %+v", got)
	}
	// A duplicate writes neither.
	if _, err := s.InsertTargetValue(ctx, storage.TargetValue{TypeID: 9, Name: "Again", Code: "logged", Active: true}, cli); !fault.Is(err, fault.Conflict) {
		t.Errorf("duplicate code: %v, want Conflict", err)
	}
	if got := logCount(t); got != before+1 {
		t.Errorf("log grew by %d, want 1 (only the successful insert)", got-before)
	}
	entries, err := s.TargetLog(ctx, 0, 1)
	if err != nil || len(entries) != 1 {
		t.Fatalf("TargetLog: %v %v", entries, err)
	}
	e := entries[0]
	if e.Source != "CLI" || e.UserID != nil || e.UserName != "cli:test" || e.LogAction != storage.LogInsertTargetValue ||
		!strings.Contains(e.Parameters, `"code":"logged"`) {
		t.Errorf("log row %+v, want the CLI insert", e)
	}
}

func TestNothingIsDeleted(t *testing.T) {
	s := testenv.Get(t).Store
	ctx := context.Background()
	for _, stmt := range []string{
		`DELETE FROM target_values WHERE id = 1`,
		`DELETE FROM target_types WHERE id = 9`,
		`DELETE FROM target_log`,
		`UPDATE target_log SET user_name = 'someone else'`,
		`TRUNCATE target_values CASCADE`,
		`TRUNCATE target_log`,
	} {
		if _, err := testenv.Get(t).Pool.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s: %v, want it refused", stmt, err)
		}
	}
	if _, err := s.TargetValue(ctx, 1, 1); err != nil {
		t.Errorf("seeded value 1 is gone: %v", err)
	}
}

func TestSchemaEnforcesTheCodePattern(t *testing.T) {
	s := testenv.Get(t).Store
	// The rules live in jobs/targets; the schema is the last line of defence.
	_, err := s.InsertTargetValue(context.Background(), storage.TargetValue{TypeID: 9, Name: "x", Code: "no spaces", Active: true}, cli)
	if err == nil {
		t.Fatal("a code with a space was stored")
	}
}
