package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
)

// turnoutIO runs the CLI and returns standard output and standard error.
func turnoutIO(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv("TURNOUT_DATABASE_URL", testenv.Get(t).DatabaseURL)
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestGenPeopleIsDeterministicAndImports(t *testing.T) {
	a, _, err := turnoutIO(t, "gen", "people", "--count", "50", "--seed", "7")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := turnoutIO(t, "gen", "people", "--count", "50", "--seed", "7")
	c, _, _ := turnoutIO(t, "gen", "people", "--count", "50", "--seed", "8")
	if a != b || a == c || strings.Count(a, "\n") != 51 {
		t.Fatalf("same seed must give the same 50 rows and another seed others")
	}
	path := filepath.Join(t.TempDir(), "people.csv")
	_ = os.WriteFile(path, []byte(a), 0o600)
	for range 2 { // importing twice leaves one copy
		out, _, err := turnoutIO(t, "people", "import", "--db-mode", "1", path, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Imported, Rejected int }
		_ = json.Unmarshal([]byte(out), &res)
		if res.Imported != 50 || res.Rejected != 0 {
			t.Errorf("import: %s", out)
		}
	}
	var n int
	_ = testenv.Get(t).Pool.QueryRow(context.Background(), `SELECT count(*) FROM van_people WHERE db_mode = 1`).Scan(&n)
	if n != 50 {
		t.Errorf("%d people in db mode 1, want 50", n)
	}
}

func TestPeopleImportReportsBadRowsWithLineNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.csv")
	_ = os.WriteFile(path, []byte("VANID,FirstName,DateOfBirth,Email\n9001,Ann,1970-01-02,ann@example.org\nx,Bob,,\n9002,Cy,1970-13-01,\n9003,Di,,not-an-email\n9004,Ed,,\n"), 0o600)
	out, errOut, err := turnoutIO(t, "people", "import", "--db-mode", "0", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`line 3: VANID "x" is not a positive integer`, `line 4: DateOfBirth "1970-13-01" is not a date (YYYY-MM-DD)`, `line 5: Email "not-an-email" is not an address`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	if !strings.Contains(out, "2 people imported into database mode 0, 3 rows rejected") {
		t.Errorf("stdout %q", out)
	}
	_ = os.WriteFile(path, []byte("FirstName\nAnn\n"), 0o600)
	if _, _, err := turnoutIO(t, "people", "import", "--db-mode", "0", path); err == nil || !strings.Contains(err.Error(), "VANID column is required") {
		t.Errorf("no VANID column: err = %v", err)
	}
}

func TestScoresCreate(t *testing.T) {
	out, _, err := turnoutIO(t, "scores", "create", "--name", "Support", "--min", "0", "--max", "100", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		ScoreID  int64
		MaxValue float64
	}
	if json.Unmarshal([]byte(out), &s) != nil || s.ScoreID == 0 || s.MaxValue != 100 {
		t.Errorf("range score: %s", out)
	}
	out, _, err = turnoutIO(t, "scores", "create", "--name", "Hat", "--values", "Yes,No,Maybe", "--json")
	if err != nil || !strings.Contains(out, `"values":["Maybe","No","Yes"]`) {
		t.Errorf("value score: %s %v", out, err)
	}
	if _, _, err := turnoutIO(t, "scores", "create", "--name", "Bad", "--min", "5", "--max", "1"); err == nil {
		t.Error("min > max accepted")
	}
}
