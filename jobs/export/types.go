package export

import (
	"fmt"
	"strings"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Type is an export job type: the columns written for each person of the
// list. VAN assigns types per customer; Turnout has two.
type Type struct {
	ID      int
	Name    string
	columns []column
}

// column is one CSV column: its header and the SQL that fills it, over
// van_saved_list_members m LEFT JOIN van_people p (p is NULL for a member
// Turnout holds no person of). Text cells pass through turnout_csv_cell,
// which neutralises spreadsheet formulas, as in every CSV Turnout writes.
type column struct {
	header string
	sql    string
}

func text(expr string) string { return "turnout_csv_cell(" + expr + ")" }

// Export types.
const (
	// TypeSavedList is VAN's type 4, "SavedListExport": the VANID only (what
	// Parsons' download_saved_list asks for).
	TypeSavedList = 4
	// TypeContacts is Turnout's: the VANID, the names and the contact
	// fields Turnout holds of each person.
	TypeContacts = 1001
)

// Types are the export types, in id order.
var Types = []Type{
	{ID: TypeSavedList, Name: "SavedListExport", columns: []column{{"VanID", "m.vanid"}}},
	{ID: TypeContacts, Name: "SavedListExportWithContacts", columns: []column{
		{"VanID", "m.vanid"},
		{"FirstName", text("p.first_name")},
		{"MiddleName", text("p.middle_name")},
		{"LastName", text("p.last_name")},
		{"DateOfBirth", "to_char(p.date_of_birth, 'YYYY-MM-DD')"},
		{"Address", text("p.address")},
		{"City", text("p.city")},
		{"State", text("p.state")},
		{"Zip", text("p.zip")},
		{"Email", text("p.email")},
		{"Phone", text("p.phone")},
	}},
}

// TypeOf returns export type id, or a validation error on field "type"
// naming the types there are.
func TypeOf(id int) (Type, error) {
	for _, t := range Types {
		if t.ID == id {
			return t, nil
		}
	}
	var known []string
	for _, t := range Types {
		known = append(known, fmt.Sprintf("%d (%s)", t.ID, t.Name))
	}
	return Type{}, fault.Validation(fault.FieldError{Field: "type", Code: fault.CodeInvalidValue,
		Message: fmt.Sprintf("export type %d is unknown; the export types are %s (GET /v4/exportJobTypes)", id, strings.Join(known, ", "))})
}

// Header is the type's CSV header.
func (t Type) Header() []string {
	out := make([]string, len(t.columns))
	for i, c := range t.columns {
		out[i] = c.header
	}
	return out
}

// SelectList is the type's SQL select list (the benchmark feeds the same
// list to psql).
func (t Type) SelectList() string {
	out := make([]string, len(t.columns))
	for i, c := range t.columns {
		out[i] = c.sql
	}
	return strings.Join(out, ", ")
}
