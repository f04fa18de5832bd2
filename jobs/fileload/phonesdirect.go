package fileload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// The direct path of phonesFile. A load whose only action is a phonesFile
// action does not stage its rows as text arrays: the database's VANIDs
// are read into a sorted slice while the file is fetched, and the people
// who already have phones are marked in a bitset. A row of a person who
// has no phone yet and no other row in the file is then COPY'd straight
// into van_phones: it has nothing to conflict with, so it needs neither
// the preferred-phone check across rows nor an upsert. Every other row (a
// person listed twice, a person with phones, an unmatched VANID) is
// written to a spool file in COPY's binary format and goes, after the
// COPY, through the general rules as set-based SQL over a narrow typed
// table. A person's rows all take one way or the other: when a person
// COPY'd straight turns up again later in the file, his row is moved back
// from van_phones into the staged rows before the rules run, so both ways
// give the same phones, row errors and statistics.
//
// A file listing each person's phones on consecutive rows, as exports
// sorted by VANID do, costs no such move: one row is held back until the
// next tells whether the person has more.
//
// When nobody of the database has a phone yet, the COPY does not wait for
// the VANIDs: until they are read, rows are routed by a map of the VANIDs
// seen so far, and once they are in, a row COPY'd for someone who is not
// a person of the database is moved back like a person listed again.
//
// Memory is bounded by the database, not the file: 8 bytes per person of
// the key's database for the VANIDs, 4 for the line of his first row and
// three bits; before the VANIDs are read, a map of at most
// maxEarlyPhones rows.

// maxEarlyPhones bounds the rows routed before the VANIDs are read (the
// map costs about 50 bytes a row); past it the load waits for them.
const maxEarlyPhones = 1 << 18

// phonesFast is the direct path's state of a load's phonesFile action.
type phonesFast struct {
	rule   *phonesRule
	dbMode int16
	people *personIndex

	// By position in people: every row goes to the staged rows (the
	// person has phones, or two consecutive rows); a row went straight to
	// van_phones; a later row came after that.
	staged, seen, multi []uint64
	firstLine           []uint32 // line of the row that went straight

	pending     phone // held back until the next row
	pendingLine int64
	pendingPos  int // -1 before the VANIDs are read
	hasPending  bool
	out         phone // the row the COPY encodes next
	row         []any // what the stager is given for a row to COPY

	spool   *os.File
	w       *bufio.Writer
	enc     []byte
	spooled int64
	staging bool // fileload_phones exists

	direct, directPreferred int64 // rows straight in van_phones, still there

	// Before the VANIDs are read (late is then not nil): the VANIDs COPY'd
	// straight, with their lines; those whose rows all go to the staged
	// rows; those COPY'd straight and listed again.
	late        *lateIndex
	early       map[int64]int64
	earlyStaged map[int64]bool
	earlyAgain  []int64
	earlyRows   int
	// Rows COPY'd straight that go back to the staged rows before the
	// rules run, by VANID, with their lines.
	backVANIDs, backLines []int64
}

// directPhones returns a load's phonesFile rule when the load can take the
// direct path (its only action), with its state set; nil otherwise.
func directPhones(rules []rule) *phonesRule {
	if len(rules) != 1 {
		return nil
	}
	r, ok := rules[0].(*phonesRule)
	if !ok {
		return nil
	}
	r.fast = &phonesFast{rule: r, dbMode: r.dbMode}
	r.fast.row = []any{r.fast}
	return r
}

// close removes the spool file.
func (f *phonesFast) close() {
	if f.spool != nil {
		f.spool.Close()
		os.Remove(f.spool.Name())
		f.spool = nil
	}
}

func bit(set []uint64, pos int) bool { return set[pos/64]&(1<<(pos%64)) != 0 }
func setBit(set []uint64, pos int)   { set[pos/64] |= 1 << (pos % 64) }

// copyPhones takes the phone loads' lock, reads the VANIDs (from late when
// not nil) and who has phones, and COPYs the file's rows into van_phones,
// spooling those that need the general rules, all in tx.
func copyPhones(ctx context.Context, tx pgx.Tx, late *lateIndex, r *phonesRule, st *stager, spoolDir string, log *slog.Logger) error {
	f := r.fast
	if err := lockPhones(ctx, tx, f.dbMode); err != nil {
		return err
	}
	var some bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM van_phones WHERE db_mode = $1)`, f.dbMode).Scan(&some); err != nil {
		return err
	}
	switch {
	case late != nil && !some && !late.ready():
		f.late, f.early, f.earlyStaged = late, map[int64]int64{}, map[int64]bool{}
	case late != nil:
		<-late.done
		if late.err != nil {
			return late.err
		}
		f.adoptIndex(late.x)
	default:
		t0 := time.Now()
		x, err := loadPersonIndex(ctx, tx.Conn(), f.dbMode, IDVANID)
		if err != nil {
			return err
		}
		f.adoptIndex(x)
		log.Info("person ids read", "id_type", IDVANID, "people", len(x.keys), "duration_ms", time.Since(t0).Milliseconds())
	}
	if some {
		if err := f.markPeopleWithPhones(ctx, tx); err != nil {
			return err
		}
	}
	var err error
	if f.spool, err = os.CreateTemp(spoolDir, "turnout-fileload-phones-*"); err != nil {
		return fmt.Errorf("create phones spool file: %w", err)
	}
	f.w = bufio.NewWriterSize(f.spool, 256<<10)
	st.route = func(_ rule, line int64, _ stagedRow) ([]any, error) { return f.take(line) }
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, &phonesCopy{st: st, f: f},
		`COPY van_phones (db_mode, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score) FROM STDIN (FORMAT binary)`); err != nil {
		return err
	}
	if err := f.w.Flush(); err != nil {
		return fmt.Errorf("write phones spool file: %w", err)
	}
	log.Info("phones copied", "direct", f.direct, "staged", f.spooled)
	return nil
}

func (f *phonesFast) adoptIndex(x *personIndex) {
	f.people = x
	words := (len(x.keys) + 63) / 64
	f.staged, f.seen, f.multi = make([]uint64, words), make([]uint64, words), make([]uint64, words)
	f.firstLine = make([]uint32, len(x.keys))
}

// adopt waits for the VANIDs being read and settles what was routed
// without them: people with consecutive rows are staged, rows COPY'd
// straight for nobody go back, people COPY'd straight and listed again
// are moved back later, and the rest are marked as COPY'd straight.
func (f *phonesFast) adopt() error {
	<-f.late.done
	if f.late.err != nil {
		return f.late.err
	}
	f.adoptIndex(f.late.x)
	for vanid, line := range f.early {
		pos, _, ok := f.people.lookup(vanid)
		switch {
		case !ok || line > math.MaxUint32:
			f.backVANIDs, f.backLines = append(f.backVANIDs, vanid), append(f.backLines, line)
			if ok {
				setBit(f.staged, pos)
			}
		default:
			setBit(f.seen, pos)
			f.firstLine[pos] = uint32(line)
		}
	}
	for vanid := range f.earlyStaged {
		if pos, _, ok := f.people.lookup(vanid); ok {
			setBit(f.staged, pos)
		}
	}
	for _, vanid := range f.earlyAgain {
		if pos, _, ok := f.people.lookup(vanid); ok && bit(f.seen, pos) {
			setBit(f.multi, pos)
		}
	}
	f.late, f.early, f.earlyStaged, f.earlyAgain = nil, nil, nil, nil
	if f.hasPending {
		pos, _, ok := f.people.lookup(f.pending.vanid)
		if !ok {
			f.hasPending = false
			return f.stage(f.pendingLine, &f.pending)
		}
		f.pendingPos = pos
	}
	return nil
}

// markPeopleWithPhones sets the staged bit of the people of the database
// who have phones.
func (f *phonesFast) markPeopleWithPhones(ctx context.Context, tx pgx.Tx) error {
	w := &idSink{add: func(id int64) {
		if pos, _, ok := f.people.lookup(id); ok {
			setBit(f.staged, pos)
		}
	}}
	q := fmt.Sprintf(`COPY (SELECT DISTINCT vanid FROM van_phones WHERE db_mode = %d) TO STDOUT`, f.dbMode)
	if _, err := tx.Conn().PgConn().CopyTo(ctx, w, q); err != nil {
		return fmt.Errorf("read people with phones: %w", err)
	}
	return nil
}

// idSink parses COPY's text output of one bigint column as it arrives.
type idSink struct {
	cur int64
	add func(int64)
}

func (w *idSink) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b >= '0' && b <= '9':
			w.cur = w.cur*10 + int64(b-'0')
		case b == '\n':
			w.add(w.cur)
			w.cur = 0
		default:
			return 0, fmt.Errorf("unexpected byte %q in VANIDs", b)
		}
	}
	return len(p), nil
}

// take routes the row the rule last accepted (line): it returns f.row
// when the COPY is to encode f.out (the row held back before this one),
// nil otherwise.
func (f *phonesFast) take(line int64) ([]any, error) {
	if f.late != nil {
		if !f.late.ready() && f.earlyRows < maxEarlyPhones {
			f.earlyRows++
			return f.takeEarly(line)
		}
		if err := f.adopt(); err != nil {
			return nil, err
		}
	}
	p := f.rule.cur
	pos, _, matched := f.people.lookup(p.vanid)
	emit := false
	if f.hasPending {
		if matched && pos == f.pendingPos {
			// Consecutive rows of one person: all his rows take the general
			// rules.
			setBit(f.staged, pos)
			f.hasPending = false
			if err := f.stage(f.pendingLine, &f.pending); err != nil {
				return nil, err
			}
			return nil, f.stage(line, &p)
		}
		f.release()
		emit = true
	}
	var err error
	switch {
	case !matched:
		err = f.stage(line, &p)
	case bit(f.staged, pos):
		err = f.stage(line, &p)
	case bit(f.seen, pos):
		setBit(f.multi, pos)
		err = f.stage(line, &p)
	case line > math.MaxUint32:
		setBit(f.staged, pos)
		err = f.stage(line, &p)
	default:
		f.pending, f.pendingLine, f.pendingPos, f.hasPending = p, line, pos, true
	}
	if err != nil || !emit {
		return nil, err
	}
	return f.row, nil
}

// takeEarly is take before the VANIDs are read, when nobody has phones:
// the maps stand in for the bitsets, and every VANID for a person.
func (f *phonesFast) takeEarly(line int64) ([]any, error) {
	p := f.rule.cur
	emit := false
	if f.hasPending {
		if p.vanid == f.pending.vanid {
			f.earlyStaged[p.vanid] = true
			f.hasPending = false
			if err := f.stage(f.pendingLine, &f.pending); err != nil {
				return nil, err
			}
			return nil, f.stage(line, &p)
		}
		f.release()
		emit = true
	}
	var err error
	if _, ok := f.early[p.vanid]; ok {
		f.earlyAgain = append(f.earlyAgain, p.vanid)
		err = f.stage(line, &p)
	} else if f.earlyStaged[p.vanid] || line > math.MaxUint32 {
		f.earlyStaged[p.vanid] = true
		err = f.stage(line, &p)
	} else {
		f.pending, f.pendingLine, f.pendingPos, f.hasPending = p, line, -1, true
	}
	if err != nil || !emit {
		return nil, err
	}
	return f.row, nil
}

// release makes the held-back row the next to COPY straight.
func (f *phonesFast) release() {
	f.out, f.hasPending = f.pending, false
	if f.late != nil {
		f.early[f.pending.vanid] = f.pendingLine
	} else {
		setBit(f.seen, f.pendingPos)
		f.firstLine[f.pendingPos] = uint32(f.pendingLine)
	}
	f.direct++
	if f.out.preferred {
		f.directPreferred++
	}
}

// stage spools a row of fileload_phones.
func (f *phonesFast) stage(line int64, p *phone) error {
	e := binary.BigEndian.AppendUint16(f.enc[:0], 9)
	e = appendInt8(e, line)
	e = appendInt8(e, p.vanid)
	f.enc = appendPhoneTail(e, p)
	f.spooled++
	_, err := f.w.Write(f.enc)
	return err
}

// appendPhoneTail appends the columns van_phones and fileload_phones
// share, from phone to sonar_score, in COPY's binary format.
func appendPhoneTail(e []byte, p *phone) []byte {
	e = appendText(e, p.number)
	e = appendText(e, p.typ)
	e = appendText(e, p.source)
	e = appendBool(e, p.preferred)
	if p.ext == "" {
		e = append(e, 0xff, 0xff, 0xff, 0xff)
	} else {
		e = appendText(e, p.ext)
	}
	e = appendText(e, p.optIn)
	if p.sonar == 0 {
		return append(e, 0xff, 0xff, 0xff, 0xff)
	}
	return binary.BigEndian.AppendUint16(append(e, 0, 0, 0, 2), uint16(p.sonar))
}

func appendInt8(e []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(append(e, 0, 0, 0, 8), uint64(v))
}

func appendBool(e []byte, v bool) []byte {
	if v {
		return append(e, 0, 0, 0, 1, 1)
	}
	return append(e, 0, 0, 0, 1, 0)
}

func appendText(e []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(e, uint32(len(s))), s...)
}

// phonesCopy is the COPY into van_phones in binary format: the rows the
// stager's route lets through, then the row still held back.
type phonesCopy struct {
	st            *stager
	f             *phonesFast
	pend, buf     []byte
	started, done bool
}

var copyTrailer = []byte{0xff, 0xff}

func (c *phonesCopy) Read(p []byte) (int, error) {
	n := 0
	for {
		if len(c.pend) > 0 {
			k := copy(p[n:], c.pend)
			n, c.pend = n+k, c.pend[k:]
			if len(c.pend) > 0 {
				return n, nil
			}
		}
		switch {
		case c.done:
			return n, io.EOF
		case n == len(p):
			return n, nil
		case !c.started:
			c.started, c.pend = true, copyHeader
			continue
		}
		if !c.st.Next() {
			if err := c.st.Err(); err != nil {
				return n, err
			}
			if !c.f.hasPending {
				c.done, c.pend = true, copyTrailer
				continue
			}
			c.f.release()
		}
		e := binary.BigEndian.AppendUint16(c.buf[:0], 9)
		e = append(e, 0, 0, 0, 2)
		e = binary.BigEndian.AppendUint16(e, uint16(c.f.dbMode))
		e = appendInt8(e, c.f.out.vanid)
		c.buf = appendPhoneTail(e, &c.f.out)
		c.pend = c.buf
	}
}

// settle loads the spooled rows into fileload_phones, moves back the rows
// of people COPY'd straight who turned up again, and applies the
// preferred-phone rule across rows to them (see phonesRule.settle).
func (f *phonesFast) settle(ctx context.Context, tx pgx.Tx, report func(line int64, column, problem string)) error {
	if f.late != nil {
		if err := f.adopt(); err != nil {
			return err
		}
	}
	vanids, lines := f.backVANIDs, f.backLines
	for w, word := range f.multi {
		for word != 0 {
			pos := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			vanids, lines = append(vanids, f.people.keys[pos]), append(lines, int64(f.firstLine[pos]))
		}
	}
	if f.spooled == 0 && len(vanids) == 0 {
		return nil
	}
	f.staging = true
	// Byte-order collation: numbers are compared, never shown sorted.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE fileload_phones (line bigint NOT NULL, vanid bigint NOT NULL,
		phone text COLLATE "C" NOT NULL, phone_type text NOT NULL, phone_source text NOT NULL, preferred boolean NOT NULL,
		ext text, opt_in_status text NOT NULL, sonar_score smallint) ON COMMIT DROP`); err != nil {
		return err
	}
	if f.spooled > 0 {
		if _, err := f.spool.Seek(0, io.SeekStart); err != nil {
			return err
		}
		src := io.MultiReader(bytes.NewReader(copyHeader), bufio.NewReaderSize(f.spool, 256<<10), bytes.NewReader(copyTrailer))
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, src, `COPY fileload_phones FROM STDIN (FORMAT binary)`); err != nil {
			return fmt.Errorf("stage phones: %w", err)
		}
	}
	f.close()
	if len(vanids) > 0 {
		var moved, preferred int64
		if err := tx.QueryRow(ctx, `WITH back AS (
				DELETE FROM van_phones ph USING unnest($2::bigint[], $3::bigint[]) AS m(vanid, line)
				WHERE ph.db_mode = $1 AND ph.vanid = m.vanid
				RETURNING m.line, ph.vanid, ph.phone, ph.phone_type, ph.phone_source, ph.preferred, ph.ext, ph.opt_in_status, ph.sonar_score
			), staged AS (
				INSERT INTO fileload_phones SELECT line, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score FROM back
				RETURNING preferred
			)
			SELECT count(*), count(*) FILTER (WHERE preferred) FROM staged`, f.dbMode, vanids, lines).Scan(&moved, &preferred); err != nil {
			return fmt.Errorf("move back phones of people listed again: %w", err)
		}
		f.direct -= moved
		f.directPreferred -= preferred
	}
	// Statistics before the first query over the rows.
	if _, err := tx.Exec(ctx, `ANALYZE fileload_phones`); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `WITH winner AS (
			SELECT DISTINCT ON (vanid) vanid, line, phone FROM fileload_phones WHERE preferred
			ORDER BY vanid, line DESC
		), dropped AS (
			DELETE FROM fileload_phones s USING winner w
			WHERE s.preferred AND s.vanid = w.vanid AND s.phone <> w.phone
			RETURNING s.line, w.line AS winner_line
		)
		SELECT line, winner_line FROM dropped ORDER BY line`)
	if err != nil {
		return fmt.Errorf("check preferred phones: %w", err)
	}
	return f.rule.reportDropped(rows, report)
}

// apply upserts the staged phones as the general path does and adds the
// rows COPY'd straight to the statistics: each is a phone added.
func (f *phonesFast) apply(ctx context.Context, tx pgx.Tx, jobID, rowsRead int64, log *slog.Logger) error {
	st, err := f.upsert(ctx, tx, rowsRead)
	if err != nil {
		return err
	}
	return f.rule.finish(ctx, tx, jobID, rowsRead, st, log)
}

// upsert upserts the staged phones and returns the action's statistics.
func (f *phonesFast) upsert(ctx context.Context, tx pgx.Tx, rowsRead int64) (PhoneStatistics, error) {
	r := f.rule
	st := PhoneStatistics{TotalRows: rowsRead, ValidRows: r.valid, InvalidRows: r.invalid,
		MatchedRows: f.direct, PhonesAdded: f.direct, PreferredSet: f.directPreferred}
	distinct := f.direct
	if f.staging {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE fileload_phones_last ON COMMIT DROP AS
			SELECT DISTINCT ON (vanid, phone) * FROM fileload_phones ORDER BY vanid, phone, line DESC`); err != nil {
			return PhoneStatistics{}, fmt.Errorf("dedupe phones: %w", err)
		}
		if _, err := tx.Exec(ctx, `ANALYZE fileload_phones_last`); err != nil {
			return PhoneStatistics{}, err
		}
		var n, matched, added, preferred int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM fileload_phones_last`).Scan(&n); err != nil {
			return PhoneStatistics{}, err
		}
		tag, err := tx.Exec(ctx, `UPDATE van_phones ph SET preferred = false, updated_at = now()
			FROM fileload_phones_last n
			WHERE n.preferred AND ph.db_mode = $1 AND ph.vanid = n.vanid AND ph.preferred AND ph.phone <> n.phone`, f.dbMode)
		if err != nil {
			return PhoneStatistics{}, fmt.Errorf("clear preferred phones: %w", err)
		}
		if err := tx.QueryRow(ctx, `WITH up AS (
				INSERT INTO van_phones AS ph (db_mode, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score)
				SELECT $1, n.vanid, n.phone, n.phone_type, n.phone_source, n.preferred, n.ext, n.opt_in_status, n.sonar_score
				FROM fileload_phones_last n JOIN van_people p ON p.db_mode = $1 AND p.vanid = n.vanid
				ORDER BY n.vanid, n.phone -- key order: the primary key grows at its end
				ON CONFLICT (db_mode, vanid, phone) DO UPDATE SET phone_type = excluded.phone_type, phone_source = excluded.phone_source,
					preferred = excluded.preferred, ext = excluded.ext, opt_in_status = excluded.opt_in_status,
					sonar_score = excluded.sonar_score, updated_at = now()
				RETURNING (xmax = 0) AS inserted, preferred
			)
			SELECT count(*), count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE preferred) FROM up`, f.dbMode).Scan(
			&matched, &added, &preferred); err != nil {
			return PhoneStatistics{}, fmt.Errorf("upsert phones: %w", err)
		}
		distinct += n
		st.MatchedRows += matched
		st.PhonesAdded += added
		st.PreferredSet += preferred
		st.PreferredCleared = tag.RowsAffected()
	}
	st.DuplicateRows = r.valid - distinct
	st.PhonesUpdated = st.MatchedRows - st.PhonesAdded
	st.UnmatchedRows = distinct - st.MatchedRows
	return st, nil
}
