package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/testkit/testenv"
	"github.com/turnoutdev/turnout/storage"
)

// turnout runs the CLI against the test package's database.
func turnoutOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Setenv("TURNOUT_DATABASE_URL", testenv.Get(t).DatabaseURL)
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), err
}

func TestTargetsCLIChangesAreLoggedAsCLI(t *testing.T) {
	out, err := turnoutOut(t, "targets", "add", "interest", "--name", "Belgian waffles", "--code", "bestwaffles", "--json")
	if err != nil {
		t.Fatalf("targets add: %v", err)
	}
	var v storage.TargetValue
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ID == 0 || v.Code != "bestwaffles" || !v.Active {
		t.Fatalf("targets add --json printed %q (%v), want the new active value", out, err)
	}
	id := strconv.FormatInt(v.ID, 10)
	if _, err := turnoutOut(t, "targets", "set", "9", id, "--active", "false"); err != nil {
		t.Fatalf("targets set: %v", err)
	}
	out, err = turnoutOut(t, "targets", "values", "interest", "--all", "--json")
	if err != nil || !strings.Contains(out, `"code":"bestwaffles","active":false`) {
		t.Fatalf("targets values --all: %v %s, want the value deactivated", err, out)
	}
	if out, _ := turnoutOut(t, "targets", "values", "interest"); strings.Contains(out, "bestwaffles") {
		t.Errorf("targets values lists an inactive value without --all:\n%s", out)
	}

	out, err = turnoutOut(t, "targets", "log", "--size", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("targets log --json: %v %s", err, out)
	}
	if rows[0]["logAction"] != "UPDATE_TARGET_VALUE" || rows[1]["logAction"] != "INSERT_TARGET_VALUE" {
		t.Errorf("log actions %v, %v; want the update, then the insert", rows[0]["logAction"], rows[1]["logAction"])
	}
	for _, r := range rows {
		if r["source"] != "CLI" || !strings.HasPrefix(r["userName"].(string), "cli") || r["userId"] != 0.0 {
			t.Errorf("log row %v, want source CLI, a cli user and no key", r)
		}
	}
	if want := `{"typeId"=9, "body"={"id":` + id + `,"active":false}}`; rows[0]["parameters"] != want {
		t.Errorf("update parameters %q, want %q", rows[0]["parameters"], want)
	}
}

func TestTargetsCLIFollowsTheAPIRules(t *testing.T) {
	cases := []struct {
		name string
		args []string
		kind fault.Kind
	}{
		{"not editable", []string{"targets", "add", "ballotType", "--name", "x", "--code", "99"}, fault.Invalid},
		{"bad code", []string{"targets", "add", "interest", "--name", "x", "--code", "a b"}, fault.Invalid},
		{"no name", []string{"targets", "add", "interest", "--code", "nameless"}, fault.Invalid},
		{"unknown type", []string{"targets", "values", "nosuchtype"}, fault.NotFound},
		{"unknown value", []string{"targets", "set", "interest", "424242", "--active", "false"}, fault.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := turnoutOut(t, tc.args...)
			if !fault.Is(err, tc.kind) {
				t.Errorf("%v: %v, want a %s error", tc.args, err, tc.kind)
			}
		})
	}
	if _, err := turnoutOut(t, "targets", "add", "interest", "--name", "One", "--code", "dupe"); err != nil {
		t.Fatal(err)
	}
	if _, err := turnoutOut(t, "targets", "add", "interest", "--name", "Two", "--code", "dupe"); !fault.Is(err, fault.Conflict) {
		t.Errorf("duplicate code: %v, want Conflict", err)
	}
	if _, err := turnoutOut(t, "targets", "set", "interest", "1"); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("set without changes: %v, want 'nothing to change'", err)
	}
}
