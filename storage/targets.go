package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/turnoutdev/turnout/internal/fault"
)

// Names of the seeded code lists (migration 00200). Loaders look their
// types up by these names; the types are not editable through the API, but
// their values may be renamed and deactivated by operators.
const (
	TargetTypeBallotReturnStatus    = "ballotReturnStatus"
	TargetTypeBallotType            = "ballotType"
	TargetTypeBallotRequestType     = "ballotRequestType"
	TargetTypeBallotRejectionReason = "ballotRejectionReason"
	TargetTypePhoneType             = "phoneType"
	TargetTypePhoneSource           = "phoneSource"
	TargetTypePhoneOptInStatus      = "phoneOptInStatus"
	TargetTypeParty                 = "party"
)

// Sources of a change in the target log.
const (
	TargetSourceAPI       = "API"
	TargetSourceCLI       = "CLI"
	TargetSourceMigration = "MIGRATION"
)

// Log actions.
const (
	LogInsertTargetType  = "INSERT_TARGET_TYPE"
	LogInsertTargetValue = "INSERT_TARGET_VALUE"
	LogUpdateTargetValue = "UPDATE_TARGET_VALUE"
)

// TargetType is a code list.
type TargetType struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Editable bool   `json:"editable"`
}

// TargetValue is one value of a code list.
type TargetValue struct {
	ID     int64  `json:"id"`
	TypeID int64  `json:"-"`
	Name   string `json:"name"`
	Code   string `json:"code"`
	Active bool   `json:"active"`
}

// TargetActor is who makes a change, as the log records it.
type TargetActor struct {
	Source   string // TargetSource*
	UserID   *int64 // the API key's id; nil for the CLI
	UserName string // the key's name, or the operator for the CLI
	// Admin is set for an API key with the admin scope.
	Admin bool
}

// MayChangeBuiltIn reports whether the actor may change values of a
// non-editable (built-in) code list: those lists drive every tenant's
// loads, so only operators may rename or deactivate their values — the
// CLI and API keys with the admin scope.
func (a TargetActor) MayChangeBuiltIn() bool {
	return a.Source == TargetSourceCLI || a.Admin
}

// TargetLogEntry is one row of the edit log.
type TargetLogEntry struct {
	ID         int64
	LogAction  string
	Source     string
	Parameters string
	UserID     *int64
	UserName   string
	At         time.Time
}

// TargetValueUpdate is what an update may change; nil fields stay.
type TargetValueUpdate struct {
	Name   *string
	Active *bool
}

const targetValueCols = `id, type_id, name, code, active`

func scanTargetValue(row pgx.Row) (*TargetValue, error) {
	var v TargetValue
	err := row.Scan(&v.ID, &v.TypeID, &v.Name, &v.Code, &v.Active)
	return &v, err
}

// TargetTypes returns every type, by id.
func (s *Store) TargetTypes(ctx context.Context) ([]TargetType, error) {
	types := []TargetType{}
	if err := s.orm.WithContext(ctx).Order("id").Find(&types).Error; err != nil {
		return nil, fmt.Errorf("list target types: %w", err)
	}
	return types, nil
}

// TargetType returns a type by id.
func (s *Store) TargetType(ctx context.Context, id int64) (*TargetType, error) {
	var t TargetType
	err := s.orm.WithContext(ctx).Take(&t, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fault.New(fault.NotFound, "target type %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get target type: %w", err)
	}
	return &t, nil
}

// TargetTypeByName returns a type by its name.
func (s *Store) TargetTypeByName(ctx context.Context, name string) (*TargetType, error) {
	var t TargetType
	err := s.orm.WithContext(ctx).Where("name = ?", name).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fault.New(fault.NotFound, "target type %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get target type: %w", err)
	}
	return &t, nil
}

// TargetValues returns a type's values by id; inactive ones only when
// withInactive. An unknown type is NotFound (not an empty list).
func (s *Store) TargetValues(ctx context.Context, typeID int64, withInactive bool) ([]TargetValue, error) {
	if _, err := s.TargetType(ctx, typeID); err != nil {
		return nil, err
	}
	vals := []TargetValue{}
	err := s.orm.WithContext(ctx).Where("type_id = ? AND (active OR ?)", typeID, withInactive).Order("id").Find(&vals).Error
	if err != nil {
		return nil, fmt.Errorf("list target values: %w", err)
	}
	return vals, nil
}

// TargetValue returns one value of a type. A value of another type is
// NotFound, as if it did not exist.
func (s *Store) TargetValue(ctx context.Context, typeID, id int64) (*TargetValue, error) {
	var v TargetValue
	err := s.orm.WithContext(ctx).Where("type_id = ? AND id = ?", typeID, id).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fault.New(fault.NotFound, "target value %d of target type %d not found", id, typeID)
	}
	if err != nil {
		return nil, fmt.Errorf("get target value: %w", err)
	}
	return &v, nil
}

// ActiveCodes returns the active values of the type named typeName as
// code → value id. Loaders validate file columns against it, so
// deactivating a value makes rows that carry its code invalid from the next
// load on.
func (s *Store) ActiveCodes(ctx context.Context, typeName string) (map[string]int64, error) {
	vals, err := s.ActiveTargetValues(ctx, typeName)
	if err != nil {
		return nil, err
	}
	m := make(map[string]int64, len(vals))
	for _, v := range vals {
		m[v.Code] = v.ID
	}
	return m, nil
}

// ActiveTargetValues returns the active values of the type named typeName,
// for loaders that match by name (the phone lists carry names in files).
func (s *Store) ActiveTargetValues(ctx context.Context, typeName string) ([]TargetValue, error) {
	t, err := s.TargetTypeByName(ctx, typeName)
	if err != nil {
		return nil, err
	}
	return s.TargetValues(ctx, t.ID, false)
}

// InsertTargetValue adds a value and its INSERT_TARGET_VALUE log row in one
// transaction: either both are written or neither. A code the type already
// has is a Conflict.
func (s *Store) InsertTargetValue(ctx context.Context, v TargetValue, by TargetActor) (*TargetValue, error) {
	var out *TargetValue
	err := s.WithTx(ctx, func(tx *Tx) error {
		var err error
		out, err = scanTargetValue(tx.q.QueryRow(ctx, `INSERT INTO target_values (type_id, name, code, active)
			VALUES ($1, $2, $3, $4) RETURNING `+targetValueCols, v.TypeID, v.Name, v.Code, v.Active))
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.ConstraintName == "target_values_type_code" {
				msg := fmt.Sprintf("target type %d already has a value with code %q", v.TypeID, v.Code)
				return &fault.Error{Kind: fault.Conflict, Message: "code: " + msg,
					Fields: []fault.FieldError{{Field: "code", Code: fault.CodeInvalidValue, Message: msg}}}
			}
			return fmt.Errorf("insert target value: %w", err)
		}
		body := logBody{ID: out.ID, Name: &out.Name, Code: &out.Code, Active: &out.Active}
		return tx.insertTargetLog(ctx, LogInsertTargetValue, out.TypeID, body, by)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateTargetValue changes a value's name and/or active flag and writes
// its UPDATE_TARGET_VALUE log row in the same transaction. The row is
// locked while it changes, so concurrent updates are logged in the order
// they applied.
func (s *Store) UpdateTargetValue(ctx context.Context, typeID, id int64, u TargetValueUpdate, by TargetActor) (*TargetValue, error) {
	var out *TargetValue
	err := s.WithTx(ctx, func(tx *Tx) error {
		var err error
		out, err = scanTargetValue(tx.q.QueryRow(ctx, `UPDATE target_values
			SET name = coalesce($3, name), active = coalesce($4, active)
			WHERE type_id = $1 AND id = $2 RETURNING `+targetValueCols, typeID, id, u.Name, u.Active))
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.New(fault.NotFound, "target value %d of target type %d not found", id, typeID)
		}
		if err != nil {
			return fmt.Errorf("update target value: %w", err)
		}
		// The log carries what the caller changed, as Adhese's does.
		return tx.insertTargetLog(ctx, LogUpdateTargetValue, typeID, logBody{ID: id, Name: u.Name, Active: u.Active}, by)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// logBody is the "body" of a log row's parameters, in the Adhese log's field
// order; absent fields are omitted.
type logBody struct {
	ID     int64   `json:"id"`
	Name   *string `json:"name,omitempty"`
	Code   *string `json:"code,omitempty"`
	Active *bool   `json:"active,omitempty"`
}

// targetLogParameters renders Adhese's parameters text:
// {"typeId"=12, "body"={"id":1,"name":"Bossaball","code":"bossaball","active":true}}.
func targetLogParameters(typeID int64, body logBody) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return "", err
	}
	return `{"typeId"=` + strconv.FormatInt(typeID, 10) + `, "body"=` + string(bytes.TrimSpace(b.Bytes())) + `}`, nil
}

func (ex *executor) insertTargetLog(ctx context.Context, action string, typeID int64, body logBody, by TargetActor) error {
	params, err := targetLogParameters(typeID, body)
	if err != nil {
		return err
	}
	_, err = ex.q.Exec(ctx, `INSERT INTO target_log (log_action, source, parameters, user_id, user_name)
		VALUES ($1, $2, $3, $4, $5)`, action, by.Source, params, by.UserID, by.UserName)
	if err != nil {
		return fmt.Errorf("write target log: %w", err)
	}
	return nil
}

// TargetLog returns the log rows [start, start+size[ counted from the
// newest.
func (ex *executor) TargetLog(ctx context.Context, start, size int) ([]TargetLogEntry, error) {
	rows, err := ex.q.Query(ctx, `SELECT id, log_action, source, parameters, user_id, user_name, created_at
		FROM target_log ORDER BY id DESC OFFSET $1 LIMIT $2`, start, size)
	if err != nil {
		return nil, fmt.Errorf("read target log: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TargetLogEntry, error) {
		var e TargetLogEntry
		err := r.Scan(&e.ID, &e.LogAction, &e.Source, &e.Parameters, &e.UserID, &e.UserName, &e.At)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read target log: %w", err)
	}
	return entries, nil
}
