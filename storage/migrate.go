package storage

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/turnoutdev/turnout/migrations"
)

// Migrate runs a goose command ("up", "down" or "status") with the embedded
// migrations; status is written to w.
func Migrate(ctx context.Context, databaseURL, command string, w io.Writer) error {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrateDB(ctx, db, command, w)
}

// MigrateStore is Migrate over an open Store.
func (s *Store) Migrate(ctx context.Context, command string, w io.Writer) error {
	return migrateDB(ctx, stdlib.OpenDBFromPool(s.pool), command, w)
}

func migrateDB(ctx context.Context, db *sql.DB, command string, w io.Writer) error {
	// Out-of-order is allowed so migrations from branches developed side by
	// side apply on databases that already have later ones.
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	switch command {
	case "up":
		res, err := p.Up(ctx)
		for _, r := range res {
			fmt.Fprintf(w, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
		}
		return err
	case "down":
		r, err := p.Down(ctx)
		if r != nil {
			fmt.Fprintf(w, "rolled back %s\n", r.Source.Path)
		}
		return err
	case "status":
		st, err := p.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			when := "pending"
			if s.State == goose.StateApplied {
				when = "applied " + s.AppliedAt.Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(w, "%-40s %s\n", s.Source.Path, when)
		}
		return nil
	}
	return fmt.Errorf("unknown migrate command %q (want up, down or status)", command)
}

// PendingMigrations counts the migrations this binary carries that the
// database has not applied.
func (s *Store) PendingMigrations(ctx context.Context) (int, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, s.sql, migrations.FS, goose.WithAllowOutofOrder(true))
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("read migration status: %w", err)
	}
	n := 0
	for _, m := range st {
		if m.State != goose.StateApplied {
			n++
		}
	}
	return n, nil
}
