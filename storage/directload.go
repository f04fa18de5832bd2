package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The direct load paths (score, phones, AV/EV and saved lists by person id)
// match a file's ids against van_people chunk by chunk and send the rows
// in PostgreSQL's binary COPY format, encoded by the caller as it reads
// the file. These are their statements: binary in and out, so a chunk of
// 65,536 ids costs one round trip and no text parsing.

// pgConn is the connection under the transaction.
func (tx *Tx) pgConn() *pgconn.PgConn { return tx.q.(pgx.Tx).Conn().PgConn() }

// copyBinary runs COPY … FROM STDIN (FORMAT binary) of src into target,
// a table and its column list.
func (tx *Tx) copyBinary(ctx context.Context, target string, src io.Reader) error {
	_, err := tx.pgConn().CopyFrom(ctx, src, `COPY `+target+` FROM STDIN (FORMAT binary)`)
	return err
}

// CopyScoreValues COPYs (score_update_id, vanid, value) rows into
// van_score_update_values.
func (tx *Tx) CopyScoreValues(ctx context.Context, src io.Reader) error {
	return tx.copyBinary(ctx, `van_score_update_values (score_update_id, vanid, value)`, src)
}

// CopyLaterScoreValues COPYs (score_update_id, seq, vanid, value) rows
// into fileload_later (CreateLaterScoreValues).
func (tx *Tx) CopyLaterScoreValues(ctx context.Context, src io.Reader) error {
	return tx.copyBinary(ctx, `fileload_later (score_update_id, seq, vanid, value)`, src)
}

// CopyUnmatchedIDs COPYs (score_update_id, id) rows into fileload_unmatched
// (CreateUnmatchedIDs).
func (tx *Tx) CopyUnmatchedIDs(ctx context.Context, src io.Reader) error {
	return tx.copyBinary(ctx, `fileload_unmatched (score_update_id, id)`, src)
}

// CopyPhones COPYs rows of every column but the times into van_phones.
func (tx *Tx) CopyPhones(ctx context.Context, src io.Reader) error {
	return tx.copyBinary(ctx, `van_phones (db_mode, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score)`, src)
}

// CopyPhoneStage COPYs rows into fileload_phones (CreatePhoneStage), in
// its column order.
func (tx *Tx) CopyPhoneStage(ctx context.Context, src io.Reader) error {
	return tx.copyBinary(ctx, `fileload_phones`, src)
}

// CopyPhonesBack COPYs (vanid, line, phone) rows into
// fileload_phones_back (CreatePhonesBack).
func (tx *Tx) CopyPhonesBack(ctx context.Context, src io.Reader) error {
	return tx.copyBinary(ctx, `fileload_phones_back (vanid, line, phone)`, src)
}

// PersonIDRange returns the least and greatest person id of dbMode's
// people by VANID, or by DWID when byDWID, read from the primary key or the
// DWID index, and the index's row estimate (that of both modes); lo and hi
// are nil when nobody has such an id. A never-analyzed index estimates -1.
func (tx *Tx) PersonIDRange(ctx context.Context, dbMode int16, byDWID bool) (lo, hi *int64, estimate float64, err error) {
	col, index := "vanid", "van_people_pkey"
	if byDWID {
		col, index = "dwid", "van_people_dwid"
	}
	err = tx.q.QueryRow(ctx, `SELECT min(`+col+`), max(`+col+`), (SELECT reltuples FROM pg_class WHERE oid = $2::regclass)
		FROM van_people WHERE db_mode = $1 AND `+col+` IS NOT NULL`, dbMode, index).Scan(&lo, &hi, &estimate)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read the range of person ids: %w", err)
	}
	return lo, hi, estimate, nil
}

// PeopleMatcher reads van_people's ids on one connection, in binary: the
// load's own transaction's, or one of its own so that a chunk is matched
// while the one before it is COPY'd.
type PeopleMatcher struct {
	conn    *pgconn.PgConn
	release func()
}

// PeopleMatcher matches on the transaction's own connection.
func (tx *Tx) PeopleMatcher() *PeopleMatcher { return &PeopleMatcher{conn: tx.pgConn()} }

// AcquirePeopleMatcher takes a connection of the pool for matching, or
// fails when none is free before ctx ends; Release gives it back.
func (s *Store) AcquirePeopleMatcher(ctx context.Context) (*PeopleMatcher, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &PeopleMatcher{conn: c.Conn().PgConn(), release: c.Release}, nil
}

// Release gives back a connection AcquirePeopleMatcher took.
func (m *PeopleMatcher) Release() {
	if m.release != nil {
		m.release()
	}
}

// PeopleInRange reads the people of dbMode whose VANID (or DWID, when
// byDWID) is from lo to hi, ascending by it: one column, the id, or two
// for DWIDs, the DWID and the VANID, each a binary int8. The caller
// reads the rows and closes the reader.
func (m *PeopleMatcher) PeopleInRange(ctx context.Context, dbMode int16, byDWID bool, lo, hi int64) *pgconn.ResultReader {
	col, pair := personColumns(byDWID)
	return m.conn.ExecParams(ctx, `SELECT `+col+pair+` FROM van_people WHERE db_mode = $1 AND `+col+` BETWEEN $2 AND $3 ORDER BY `+col,
		[][]byte{int2(dbMode), int8(lo), int8(hi)}, []uint32{oidInt2, oidInt8, oidInt8}, []int16{1, 1, 1}, []int16{1})
}

// PeopleWithIDs reads the people of dbMode whose VANID (or DWID) is one of
// ids, in no order, as PeopleInRange does.
func (m *PeopleMatcher) PeopleWithIDs(ctx context.Context, dbMode int16, byDWID bool, ids []int64) *pgconn.ResultReader {
	col, pair := personColumns(byDWID)
	return m.conn.ExecParams(ctx, `SELECT `+col+pair+` FROM van_people WHERE db_mode = $1 AND `+col+` = ANY($2)`,
		[][]byte{int2(dbMode), int8Array(ids)}, []uint32{oidInt2, oidInt8Array}, []int16{1, 1}, []int16{1})
}

// CountVANIDs counts the people of dbMode whose VANID is from lo to hi.
func (m *PeopleMatcher) CountVANIDs(ctx context.Context, dbMode int16, lo, hi int64) (int64, error) {
	rr := m.conn.ExecParams(ctx, `SELECT count(*) FROM van_people WHERE db_mode = $1 AND vanid BETWEEN $2 AND $3`,
		[][]byte{int2(dbMode), int8(lo), int8(hi)}, []uint32{oidInt2, oidInt8, oidInt8}, []int16{1, 1, 1}, []int16{1})
	var n int64
	for rr.NextRow() {
		n = int64(binary.BigEndian.Uint64(rr.Values()[0]))
	}
	_, err := rr.Close()
	return n, err
}

func personColumns(byDWID bool) (col, pair string) {
	if byDWID {
		return "dwid", ", vanid"
	}
	return "vanid", ""
}

// PostgreSQL type OIDs of the matcher's binary parameters.
const (
	oidInt2      = 21
	oidInt8      = 20
	oidInt8Array = 1016
)

func int2(v int16) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func int8(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// int8Array encodes ids as a one-dimensional bigint[] in PostgreSQL's
// binary format.
func int8Array(ids []int64) []byte {
	b := make([]byte, 0, 20+12*len(ids))
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
	b = binary.BigEndian.AppendUint32(b, oidInt8)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	for _, id := range ids {
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(id))
	}
	return b
}
