package storage

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The functions below run the executor method of the same name through q (a
// pool or a transaction). They serve callers whose SQL has not moved into
// storage yet; new code calls the methods on Store or Tx.

// InsertJob is executor.InsertJob through q.
func InsertJob(ctx context.Context, q Querier, n NewJob) (*Job, error) {
	return through(q).InsertJob(ctx, n)
}

// ReplaceRowErrors is executor.ReplaceRowErrors through q.
func ReplaceRowErrors(ctx context.Context, q Querier, jobID int64, errs []RowError) error {
	return through(q).ReplaceRowErrors(ctx, jobID, errs)
}

// FinishFileLoad is executor.FinishFileLoad through q.
func FinishFileLoad(ctx context.Context, q Querier, jobID, rowsRead, errorCount, warningCount int64, errorFileKey *string) error {
	return through(q).FinishFileLoad(ctx, jobID, rowsRead, errorCount, warningCount, errorFileKey)
}

// InsertFileLoad is executor.InsertFileLoad through q, with s's key ring.
func (s *Store) InsertFileLoad(ctx context.Context, q Querier, f FileLoad) error {
	return (&executor{q: q, store: s}).InsertFileLoad(ctx, f)
}

func through(q Querier) *executor { return &executor{q: q} }

// TxOf is the Tx of tx, a transaction begun with Store.InTx, for code
// that moves its statements into storage step by step.
func TxOf(tx pgx.Tx) *Tx { return &Tx{executor: executor{q: tx}} }
