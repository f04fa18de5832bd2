package storage

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The statements of a phonesFile load, run in the load's transaction.
// Staged phone rows are in one of two temporary tables: fileload_stage (a
// row's phone fields in fields[1..7]) or fileload_phones, the phones
// direct path's typed table (CreatePhoneStage).

// LockPhoneLoads makes the phone loads of dbMode take turns from here to
// the end of the transaction: the direct path relies on the people it
// finds without phones staying without them until it commits.
func (ex *executor) LockPhoneLoads(ctx context.Context, dbMode int16) error {
	if _, err := ex.q.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, phonesLockKey, int32(dbMode)); err != nil {
		return fmt.Errorf("lock phone loads: %w", err)
	}
	return nil
}

// phonesLockKey is the first key of LockPhoneLoads' advisory lock
// ("phon").
const phonesLockKey int32 = 0x70686f6e

// StagedPhoneRows says where DemotePreferredPhones finds a load's staged
// phone rows: their table and, as expressions over the alias s, the rows
// of the action, the person, the number, whether the row is preferred, and
// the assignment that clears the mark.
type StagedPhoneRows struct {
	Table, Rows, Person, Number, Preferred, Clear string
}

// Demotion is a staged preferred row that lost the mark (its line) to a
// later row of the same person for another number (keeper's line).
type Demotion struct {
	Line, Keeper int64
}

// PhoneRowsOfStage are the phone rows of action $1 of fileload_stage.
var PhoneRowsOfStage = StagedPhoneRows{Table: "fileload_stage", Rows: "s.action_index = $1",
	Person: "s.person_id", Number: "s.fields[1]", Preferred: "s.fields[4] = 't'", Clear: "fields[4] = 'f'"}

// PhoneRowsOfPhoneStage are the rows of fileload_phones.
var PhoneRowsOfPhoneStage = StagedPhoneRows{Table: "fileload_phones", Rows: "true",
	Person: "s.vanid", Number: "s.phone", Preferred: "s.preferred", Clear: "preferred = false"}

// DemotePreferredPhones applies the preferred-phone rule to the staged
// rows at: of each person's rows marked preferred, the last in the file
// keeps the mark, and every earlier one for another number loses it. It
// returns the demoted rows in line order. args are the parameters at's
// expressions use.
func (ex *executor) DemotePreferredPhones(ctx context.Context, at StagedPhoneRows, args ...any) ([]Demotion, error) {
	rows, err := ex.q.Query(ctx, `WITH keeper AS (
			SELECT DISTINCT ON (`+at.Person+`) `+at.Person+` AS person, s.line, `+at.Number+` AS number
			FROM `+at.Table+` s WHERE `+at.Rows+` AND `+at.Preferred+`
			ORDER BY `+at.Person+`, s.line DESC
		), demoted AS (
			UPDATE `+at.Table+` s SET `+at.Clear+` FROM keeper k
			WHERE `+at.Rows+` AND `+at.Preferred+` AND `+at.Person+` = k.person AND `+at.Number+` <> k.number
			RETURNING s.line, k.line AS keeper_line
		)
		SELECT line, keeper_line FROM demoted ORDER BY line`, args...)
	if err != nil {
		return nil, fmt.Errorf("check preferred phones: %w", err)
	}
	defer rows.Close()
	var out []Demotion
	for rows.Next() {
		var d Demotion
		if err := rows.Scan(&d.Line, &d.Keeper); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// PhoneUpsert is what an upsert of staged phones did: the distinct
// (person, number) pairs staged, those of people of the database
// (matched), of those the phones added, the phones left preferred, and
// the other phones that lost the preferred mark.
type PhoneUpsert struct {
	Distinct, Matched, Added, Preferred, PreferredCleared int64
}

// UpsertStagedPhones upserts the phones of action actionIndex of
// fileload_stage into dbMode as upsertPhones does, the last row of each
// (person, number) winning.
func (ex *executor) UpsertStagedPhones(ctx context.Context, dbMode int16, actionIndex int) (PhoneUpsert, error) {
	src := fmt.Sprintf("fileload_phones_%d", actionIndex)
	if _, err := ex.q.Exec(ctx, `CREATE TEMP TABLE `+src+` ON COMMIT DROP AS
		SELECT DISTINCT ON (person_id, fields[1]) person_id::bigint AS vanid, fields[1] AS phone, fields[2] AS phone_type,
			fields[3] AS phone_source, fields[4] = 't' AS preferred, nullif(fields[5], '') AS ext, fields[6] AS opt_in_status,
			nullif(fields[7], '')::smallint AS sonar_score
		FROM fileload_stage WHERE action_index = $1
		ORDER BY person_id, fields[1], line DESC`, actionIndex); err != nil {
		return PhoneUpsert{}, fmt.Errorf("dedupe phones: %w", err)
	}
	return ex.upsertPhones(ctx, dbMode, src)
}

// CreatePhoneStage creates fileload_phones, the phones direct path's
// typed table of staged rows, dropped at commit. Its columns are COPY's
// order.
func (ex *executor) CreatePhoneStage(ctx context.Context) error {
	// Byte-order collation: numbers are compared, never shown sorted.
	_, err := ex.q.Exec(ctx, `CREATE TEMP TABLE fileload_phones (line bigint NOT NULL, vanid bigint NOT NULL,
		phone text COLLATE "C" NOT NULL, phone_type text NOT NULL, phone_source text NOT NULL, preferred boolean NOT NULL,
		ext text, opt_in_status text NOT NULL, sonar_score smallint) ON COMMIT DROP`)
	return err
}

// CreatePhonesBack creates fileload_phones_back, dropped at commit: the
// rows the direct path settled early (COPY'd straight, or found stored as
// they are) of people who turned up again. Each is a VANID, the row's line
// and, for a row found stored, its number (NULL for a row COPY'd straight).
func (ex *executor) CreatePhonesBack(ctx context.Context) error {
	_, err := ex.q.Exec(ctx, `CREATE TEMP TABLE fileload_phones_back (vanid bigint NOT NULL, line bigint NOT NULL, phone text) ON COMMIT DROP`)
	return err
}

// PhonesBack is what MovePhonesBack staged again: the rows COPY'd
// straight (moved out of van_phones) and the rows found stored (copied,
// left in van_phones), and of each how many are preferred.
type PhonesBack struct {
	Straight, StraightPreferred, Stored, StoredPreferred int64
}

// MovePhonesBack stages again, in fileload_phones with the line given in
// fileload_phones_back, the rows listed there of dbMode. A row COPY'd
// straight is moved out of van_phones: its person had no phones before the
// load, so his one phone is that row. A row found stored is copied from
// its phone, which is left as it is.
func (ex *executor) MovePhonesBack(ctx context.Context, dbMode int16) (PhonesBack, error) {
	var pb PhonesBack
	err := ex.q.QueryRow(ctx, `WITH straight AS (
			DELETE FROM van_phones ph USING fileload_phones_back b
			WHERE ph.db_mode = $1 AND ph.vanid = b.vanid AND b.phone IS NULL
			RETURNING b.line, ph.vanid, ph.phone, ph.phone_type, ph.phone_source, ph.preferred, ph.ext, ph.opt_in_status, ph.sonar_score
		), stored AS (
			SELECT b.line, ph.vanid, ph.phone, ph.phone_type, ph.phone_source, ph.preferred, ph.ext, ph.opt_in_status, ph.sonar_score
			FROM fileload_phones_back b JOIN van_phones ph ON ph.db_mode = $1 AND ph.vanid = b.vanid AND ph.phone = b.phone
		), staged AS (
			INSERT INTO fileload_phones SELECT * FROM straight UNION ALL SELECT * FROM stored
		)
		SELECT (SELECT count(*) FROM straight), (SELECT count(*) FROM straight WHERE preferred),
			(SELECT count(*) FROM stored), (SELECT count(*) FROM stored WHERE preferred)`, dbMode).
		Scan(&pb.Straight, &pb.StraightPreferred, &pb.Stored, &pb.StoredPreferred)
	if err != nil {
		return PhonesBack{}, fmt.Errorf("move back phones of people listed again: %w", err)
	}
	return pb, nil
}

// AnalyzePhoneStage gathers fileload_phones' statistics, before the
// first query over its rows.
func (ex *executor) AnalyzePhoneStage(ctx context.Context) error {
	_, err := ex.q.Exec(ctx, `ANALYZE fileload_phones`)
	return err
}

// UpsertPhoneStage upserts the phones of fileload_phones into dbMode as
// upsertPhones does, the last row of each (person, number) winning.
func (ex *executor) UpsertPhoneStage(ctx context.Context, dbMode int16) (PhoneUpsert, error) {
	if _, err := ex.q.Exec(ctx, `CREATE TEMP TABLE fileload_phones_last ON COMMIT DROP AS
		SELECT DISTINCT ON (vanid, phone) vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score
		FROM fileload_phones ORDER BY vanid, phone, line DESC`); err != nil {
		return PhoneUpsert{}, fmt.Errorf("dedupe phones: %w", err)
	}
	return ex.upsertPhones(ctx, dbMode, "fileload_phones_last")
}

// upsertPhones upserts the phones of src, a temporary table of one row per
// (vanid, phone) with van_phones' columns, into dbMode. A person whose rows
// name a preferred number loses the mark on his other phones first, so the
// database never holds two. A phone whose stored values are those of its
// row is left as it is (its updated_at too): re-loading a file rewrites
// only what changed. Rows of unknown people are not matched.
func (ex *executor) upsertPhones(ctx context.Context, dbMode int16, src string) (PhoneUpsert, error) {
	var u PhoneUpsert
	if _, err := ex.q.Exec(ctx, `ANALYZE `+src); err != nil {
		return u, err
	}
	if err := ex.q.QueryRow(ctx, `SELECT count(*) FROM `+src).Scan(&u.Distinct); err != nil {
		return u, err
	}
	tag, err := ex.q.Exec(ctx, `UPDATE van_phones ph SET preferred = false, updated_at = now()
		FROM `+src+` n
		WHERE n.preferred AND ph.db_mode = $1 AND ph.vanid = n.vanid AND ph.preferred AND ph.phone <> n.phone`, dbMode)
	if err != nil {
		return u, fmt.Errorf("clear preferred phones: %w", err)
	}
	u.PreferredCleared = tag.RowsAffected()
	if err := ex.q.QueryRow(ctx, `WITH n AS MATERIALIZED (
			SELECT n.*, o.vanid IS NOT NULL AS unchanged
			FROM `+src+` n
			JOIN van_people p ON p.db_mode = $1 AND p.vanid = n.vanid
			LEFT JOIN van_phones o ON o.db_mode = $1 AND o.vanid = n.vanid AND o.phone = n.phone
				AND (o.phone_type, o.phone_source, o.preferred, o.ext, o.opt_in_status, o.sonar_score)
					IS NOT DISTINCT FROM (n.phone_type, n.phone_source, n.preferred, n.ext, n.opt_in_status, n.sonar_score)
		), up AS (
			INSERT INTO van_phones AS ph (db_mode, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score)
			SELECT $1, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score
			FROM n WHERE NOT unchanged
			ORDER BY vanid, phone -- key order: the primary key grows at its end
			ON CONFLICT (db_mode, vanid, phone) DO UPDATE SET phone_type = excluded.phone_type, phone_source = excluded.phone_source,
				preferred = excluded.preferred, ext = excluded.ext, opt_in_status = excluded.opt_in_status,
				sonar_score = excluded.sonar_score, updated_at = now()
			RETURNING xmax = 0 AS inserted
		)
		SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM up WHERE inserted), (SELECT count(*) FROM n WHERE preferred)`,
		dbMode).Scan(&u.Matched, &u.Added, &u.Preferred); err != nil {
		return u, fmt.Errorf("upsert phones: %w", err)
	}
	return u, nil
}

// HasPhones tells whether anyone of dbMode has a phone.
func (ex *executor) HasPhones(ctx context.Context, dbMode int16) (bool, error) {
	var some bool
	err := ex.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM van_phones WHERE db_mode = $1)`, dbMode).Scan(&some)
	return some, err
}

// PhonesOf calls fn with each phone of dbMode whose person is among
// vanids (ascending), in VANID order: its VANID and the values of phone,
// phone_type, phone_source, preferred, ext, opt_in_status and sonar_score
// in PostgreSQL's binary format (nil for NULL), which fn must not keep. A
// dense list is read as one range of the primary key, a sparse one by
// index lookups.
func (ex *executor) PhonesOf(ctx context.Context, dbMode int16, vanids []int64, fn func(vanid int64, cols [][]byte) error) error {
	if len(vanids) == 0 {
		return nil
	}
	const q = `SELECT vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score
		FROM van_phones WHERE db_mode = $1 AND `
	asBinary := pgx.QueryResultFormats{pgx.BinaryFormatCode}
	lo, hi := vanids[0], vanids[len(vanids)-1]
	var rows pgx.Rows
	var err error
	if uint64(hi-lo) < 2*uint64(len(vanids)) {
		rows, err = ex.q.Query(ctx, q+`vanid BETWEEN $2 AND $3 ORDER BY vanid`, asBinary, dbMode, lo, hi)
	} else {
		rows, err = ex.q.Query(ctx, q+`vanid = ANY($2) ORDER BY vanid`, asBinary, dbMode, vanids)
	}
	if err != nil {
		return fmt.Errorf("look up people's phones: %w", err)
	}
	defer rows.Close()
	i := 0 // the first of vanids not passed yet
	for rows.Next() {
		raw := rows.RawValues()
		vanid := int64(binary.BigEndian.Uint64(raw[0]))
		for i < len(vanids) && vanids[i] < vanid {
			i++
		}
		if i == len(vanids) || vanids[i] != vanid {
			continue // in the range, not in the list
		}
		if err := fn(vanid, raw[1:]); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up people's phones: %w", err)
	}
	return nil
}
