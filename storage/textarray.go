package storage

import (
	"context"
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5/pgtype"
	"gorm.io/gorm/schema"
)

// textArray lets GORM keep a []string field in a text[] column: a field
// tagged serializer:textarray is read from PostgreSQL's array text and
// written as the slice itself, which pgx encodes as an array.
type textArray struct{}

func init() { schema.RegisterSerializer("textarray", textArray{}) }

// Scan decodes the column's array text into the field.
func (textArray) Scan(ctx context.Context, field *schema.Field, dst reflect.Value, dbValue any) error {
	var out []string
	if dbValue != nil {
		if err := pgtype.NewMap().SQLScanner(&out).Scan(dbValue); err != nil {
			return fmt.Errorf("read %s as text[]: %w", field.DBName, err)
		}
	}
	return field.Set(ctx, dst, out)
}

// Value hands the slice to pgx, which encodes it as text[].
func (textArray) Value(_ context.Context, _ *schema.Field, _ reflect.Value, fieldValue any) (any, error) {
	s, _ := fieldValue.([]string)
	return s, nil
}
