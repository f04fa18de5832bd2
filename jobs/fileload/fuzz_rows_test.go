package fileload

import (
	"context"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

func testenvStore(t testing.TB) *storage.Store { return testenv.Get(t).Store }

// phonesFile and AVEVDataFile rows: any cells yield either a staged row or
// a problem naming a column, never both, never a panic. The code lists are
// the seeded ones, read from the test database once.
func FuzzPhonesRow(f *testing.F) {
	f.Add("101", "Cell", "Voter File", "6125550101", "1", "", "Opt In", "3")
	f.Add("x", "", "", "1-612-555-0101", "true", "1234567", "Maybe", "9")
	f.Add("0", "home", "bulk", "16125550101", "", "", "", "")
	f.Add("99999999999999999999", "\xff", "Bulk", "0125550101", "2", "x", "U", "-1")
	cols := []string{"VANID", "PhoneType", "PhoneSource", "Phone", "PreferredPhone", "PhoneExt", "PhoneOptInStatus", "SonarScore"}
	var file File
	for _, c := range cols {
		file.Columns = append(file.Columns, Column{Name: c})
	}
	r, err := newPhonesRule(context.Background(), testenvStore(f), 0, file, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, vanid, typ, src, phone, pref, ext, opt, sonar string) {
		row, column, problem := r.stage([]string{vanid, typ, src, phone, pref, ext, opt, sonar})
		if (problem == "") == (column != "") {
			t.Fatalf("problem %q with column %q: want both or neither", problem, column)
		}
		if problem == "" && (row.personText() == "" || len(row.stageFields()) != phFields) {
			t.Fatalf("row accepted without a person: %q", []string{vanid, phone})
		}
	})
}

func FuzzAVEVRow(f *testing.F) {
	f.Add("101", "10/1/2026", "2026-10-02", "", "D", "14", "7", "4", "US", "55401-1234", "MN")
	f.Add("x", "13/45/2026", "1899-01-01", "10/1/26", "DEM", "999", "-1", "a", "USA", "5540", "Minnesota")
	file := File{Columns: []Column{{Name: "VanID"}}}
	for _, c := range avevColumns {
		file.Columns = append(file.Columns, Column{Name: c.name})
	}
	a := Action{ActionType: ActionAVEV, PersonIDColumn: "VanID", PersonIDType: IDVANID}
	r, err := newAVEVRule(context.Background(), testenvStore(f), 0, a, file)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, d1, d2, d3, party, status, typ, req, country, zip, state string) {
		rec := make([]string, len(file.Columns))
		set := func(name, v string) {
			if i := file.columnIndex(name); i >= 0 {
				rec[i] = v
			}
		}
		set("VanID", id)
		set("RequestReceived", d1)
		set("BallotMailed", d2)
		set("EarlyVoted", d3)
		set("BallotParty", party)
		set("BallotReturnStatus", status)
		set("BallotType", typ)
		set("BallotRequestType", req)
		set("BallotCountry", country)
		set("BallotZip9", zip)
		set("BallotState", state)
		row, column, problem := r.check(rec)
		if (problem == "") == (column != "") {
			t.Fatalf("problem %q with column %q: want both or neither", problem, column)
		}
		if problem == "" && row.person == "" {
			t.Fatalf("row accepted without a person id: %q", rec)
		}
	})
}

// LoadSavedListFile rows: any cell is a person or a problem naming the
// column, never both.
func FuzzSavedListRow(f *testing.F) {
	for _, s := range []string{"101", "0", "-5", " 42 ", "1e3", "99999999999999999999", "\xff", ""} {
		f.Add(s)
	}
	file := File{Columns: []Column{{Name: "VanID"}}}
	r := newSavedListRule(0, Action{ActionType: ActionSavedList, PersonIDColumn: "VanID", PersonIDType: IDVANID}, file)
	f.Fuzz(func(t *testing.T, id string) {
		row, column, problem := r.stage([]string{id})
		if (problem == "") == (column != "") {
			t.Fatalf("problem %q with column %q: want both or neither", problem, column)
		}
		if problem == "" && row.personText() == "" {
			t.Fatalf("%q accepted without a person", id)
		}
	})
}
