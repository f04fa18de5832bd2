package storage

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// InTx runs fn in one raw pgx transaction, committing only if fn returns
// nil; TxOf gives fn the Tx methods on it. They serve tests that look
// inside a transaction with SQL of their own while the code under test
// works in it; everything else uses WithTx.
func (s *Store) InTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// TxOf is the Tx of tx, a transaction begun with Store.InTx. It has no key
// ring: a statement that seals a secret fails rather than store it in
// clear.
func TxOf(tx pgx.Tx) *Tx { return &Tx{executor: executor{q: tx}} }
