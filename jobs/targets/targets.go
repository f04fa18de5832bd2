// Package targets holds the rules of Turnout's reference code lists, the
// Adhese Target API's target types and values, free of HTTP: the
// API and the operator CLI both change code lists only through Editor, so
// both follow the same rules and every change is logged (in the same
// transaction, by storage) with its source and author.
//
// The rules of the Adhese Target API: values are added only to editable types; a code
// is alphanumerics and underscores, optionally led by '!' (negative
// targeting), and unique within its type; an update changes only name and
// active, every other field is ignored; values of the built-in
// (non-editable) types change only by an operator's hand; nothing is ever
// deleted.
package targets

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/storage"
)

// CodePattern is the Adhese rule for a value's code.
var CodePattern = regexp.MustCompile(`^!?[A-Za-z0-9_]+$`)

// Limits of the schema (migration 00200).
const (
	MaxNameLength = 255
	MaxCodeLength = 100
)

// Store is what Editor needs from storage.
type Store interface {
	TargetType(ctx context.Context, id int64) (*storage.TargetType, error)
	TargetValue(ctx context.Context, typeID, id int64) (*storage.TargetValue, error)
	InsertTargetValue(ctx context.Context, v storage.TargetValue, by storage.TargetActor) (*storage.TargetValue, error)
	UpdateTargetValue(ctx context.Context, typeID, id int64, u storage.TargetValueUpdate, by storage.TargetActor) (*storage.TargetValue, error)
}

// Editor changes code lists.
type Editor struct {
	Store Store
}

// NewEditor returns an Editor over store.
func NewEditor(store Store) *Editor { return &Editor{Store: store} }

// NewValue is a value to add. Active defaults to true.
type NewValue struct {
	Name   string
	Code   string
	Active *bool
}

// Change is an update of a value: its id (from the body; the path's id,
// if any, is given to Update separately) and the fields that may change.
type Change struct {
	ID     *int64
	Name   *string
	Active *bool
}

// Add adds a value to an editable type. Errors: NotFound for an unknown
// type; Invalid for a type that is not editable or a bad name or code
// (every field problem listed); Conflict for a code the type already has.
func (e *Editor) Add(ctx context.Context, typeID int64, n NewValue, by storage.TargetActor) (*storage.TargetValue, error) {
	if err := checkActor(by); err != nil {
		return nil, err
	}
	t, err := e.Store.TargetType(ctx, typeID)
	if err != nil {
		return nil, err
	}
	if !t.Editable {
		return nil, fault.New(fault.Invalid, "target type %d (%s) is not editable: values can only be added to editable target types", t.ID, t.Name)
	}
	name := strings.TrimSpace(n.Name)
	var fe []fault.FieldError
	if f := checkName(name); f != nil {
		fe = append(fe, *f)
	}
	switch {
	case n.Code == "":
		fe = append(fe, fault.FieldError{Field: "code", Code: fault.CodeRequired, Message: "is required"})
	case !CodePattern.MatchString(n.Code):
		fe = append(fe, fault.FieldError{Field: "code", Code: fault.CodeInvalidValue,
			Message: fmt.Sprintf("%q must contain only letters, digits and underscores, optionally preceded by '!' (^!?[A-Za-z0-9_]+$)", truncate(n.Code))})
	case len(n.Code) > MaxCodeLength:
		fe = append(fe, fault.FieldError{Field: "code", Code: fault.CodeOutOfRange, Message: fmt.Sprintf("must be at most %d characters", MaxCodeLength)})
	}
	if len(fe) > 0 {
		return nil, fault.Validation(fe...)
	}
	active := true
	if n.Active != nil {
		active = *n.Active
	}
	return e.Store.InsertTargetValue(ctx, storage.TargetValue{TypeID: t.ID, Name: name, Code: n.Code, Active: active}, by)
}

// Update changes a value's name and/or active flag, on any type: the
// seeded VAN code lists are not editable (no new values) but their values
// may be renamed or deactivated by an operator (see
// storage.TargetActor.MayChangeBuiltIn); any other caller gets Forbidden,
// since those lists are shared by every tenant's loads. pathID is the id in the URL, if the
// caller gave one; it must agree with the body's. A change of neither name
// nor active changes nothing and logs nothing, but the value must exist.
func (e *Editor) Update(ctx context.Context, typeID int64, pathID *int64, c Change, by storage.TargetActor) (*storage.TargetValue, error) {
	if err := checkActor(by); err != nil {
		return nil, err
	}
	var id int64
	switch {
	case pathID != nil && c.ID != nil && *pathID != *c.ID:
		return nil, fault.Validation(fault.FieldError{Field: "id", Code: fault.CodeInvalidValue,
			Message: fmt.Sprintf("the body's id %d does not match the id %d in the path", *c.ID, *pathID)})
	case pathID != nil:
		id = *pathID
	case c.ID != nil:
		id = *c.ID
	default:
		return nil, fault.Validation(fault.FieldError{Field: "id", Code: fault.CodeRequired, Message: "is required (in the body or the path)"})
	}
	if id <= 0 {
		return nil, fault.Validation(fault.FieldError{Field: "id", Code: fault.CodeInvalidValue, Message: "must be a positive integer"})
	}
	t, err := e.Store.TargetType(ctx, typeID)
	if err != nil {
		return nil, err
	}
	if !t.Editable && !by.MayChangeBuiltIn() {
		return nil, fault.New(fault.Forbidden, "target type %d (%s) is built in: only a key with the admin scope may change its values", t.ID, t.Name)
	}
	u := storage.TargetValueUpdate{Active: c.Active}
	if c.Name != nil {
		name := strings.TrimSpace(*c.Name)
		if f := checkName(name); f != nil {
			return nil, fault.Validation(*f)
		}
		u.Name = &name
	}
	if u.Name == nil && u.Active == nil {
		return e.Store.TargetValue(ctx, typeID, id)
	}
	return e.Store.UpdateTargetValue(ctx, typeID, id, u, by)
}

func checkName(name string) *fault.FieldError {
	switch {
	case name == "":
		return &fault.FieldError{Field: "name", Code: fault.CodeRequired, Message: "is required"}
	case utf8.RuneCountInString(name) > MaxNameLength:
		return &fault.FieldError{Field: "name", Code: fault.CodeOutOfRange, Message: fmt.Sprintf("must be at most %d characters", MaxNameLength)}
	}
	return nil
}

// checkActor guards the log's integrity: every change names its source and
// author.
func checkActor(by storage.TargetActor) error {
	switch by.Source {
	case storage.TargetSourceAPI, storage.TargetSourceCLI:
	default:
		return fmt.Errorf("targets: change from unknown source %q", by.Source)
	}
	if by.UserName == "" {
		return fmt.Errorf("targets: change without an author")
	}
	return nil
}

// truncate shortens a bad code for an error message.
func truncate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
