// Package storage is Turnout's persistence: PostgreSQL through one pgx pool
// shared by GORM and raw pgx, schema migrations, and the blob store. It
// holds no business rules.
//
// GORM does the ordinary CRUD of single rows and their children: API keys
// (create, by id, list), partners (create, by id), folders and scores
// (create), code lists (every read). pgx does the rest: COPY, set-based
// statements (batched job state changes, score updates, sweeps), reads that
// join or aggregate, and every statement that must commit in one
// transaction with others (a job and the rows it works on) — GORM runs on
// database/sql and cannot join a pgx transaction.
//
// Every pgx statement is a method defined once on executor, which Store
// (the pool) and Tx (one transaction) both embed, so the same call works on
// either: store.InsertJob(ctx, n) commits at once, tx.InsertJob(ctx, n)
// commits with the rest of the transaction that Store.WithTx runs. Methods
// that open a transaction of their own, or go through GORM, are on Store
// only.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/turnoutdev/turnout/internal/crypt"
	"github.com/turnoutdev/turnout/internal/fault"
)

// Store is the handle to PostgreSQL. Its pgx pool and GORM share one set of
// connections, so a process never holds more than the pool's maximum.
type Store struct {
	executor
	pool *pgxpool.Pool
	orm  *gorm.DB
	sql  *sql.DB
	// Secrets encrypts the credentials rows keep for later use (a file
	// load's source URL); nil or empty keeps them in clear.
	Secrets *crypt.Ring
}

// ErrBadURL is returned by Open for a database URL that cannot work, as
// opposed to a server that does not answer (yet).
var ErrBadURL = errors.New("bad database url")

// Open connects to databaseURL and checks the connection.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without a bound a server that drops packets holds every request
		// until its own deadline; with one, the caller soon learns the
		// database is unreachable (503) and can come back. connect_timeout
		// in the URL overrides it.
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres at %s: %w", cfg.ConnConfig.Host, err)
	}
	s, err := newStore(pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// newStore puts GORM (through database/sql) and the executor over pool.
func newStore(pool *pgxpool.Pool) (*Store, error) {
	sqlDB := stdlib.OpenDBFromPool(pool)
	orm, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		TranslateError:         true,
		DisableAutomaticPing:   true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open gorm: %w", err)
	}
	s := &Store{pool: pool, orm: orm, sql: sqlDB}
	s.executor = executor{q: pool, store: s}
	return s, nil
}

// Side returns a Store on the same database over a pool of its own of at
// most conns connections, for work that must not queue behind the main
// pool: the worker's bookkeeping of job states, which a handler holding
// every connection of a small pool would otherwise stall. Close it when
// done.
func (s *Store) Side(conns int32) (*Store, error) {
	cfg := s.pool.Config().Copy()
	cfg.MaxConns, cfg.MinConns = conns, 0
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open side pool: %w", err)
	}
	side, err := newStore(pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	side.Secrets = s.Secrets
	return side, nil
}

// Close releases every connection.
func (s *Store) Close() {
	if s.sql != nil {
		_ = s.sql.Close()
	}
	s.pool.Close()
}

// Ping checks PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// WithTx runs fn in one transaction, committing only if fn returns nil.
func (s *Store) WithTx(ctx context.Context, fn func(*Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&Tx{executor: executor{q: tx, store: s}})
	})
}

// Tx is one transaction, open while the function given to Store.WithTx
// runs; it has every method of executor, under the names Store has.
type Tx struct {
	executor
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// executor holds the statements that run the same through the pool and
// through a transaction: q is one or the other. store gives the settings
// both share (the key ring).
type executor struct {
	q     querier
	store *Store
}

// notFound maps "no rows" to a NotFound fault with a caller-safe message.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, gorm.ErrRecordNotFound) {
		return fault.New(fault.NotFound, "%s not found", what)
	}
	return err
}
