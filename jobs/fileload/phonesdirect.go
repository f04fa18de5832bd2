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
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// The direct path of phonesFile. A load whose only action is a phonesFile
// action does not stage its rows as text arrays: the database's VANIDs
// are read into a sorted slice while the file is fetched, and the people
// who already have phones are marked in a bitset. The rows of a person
// who has no phone yet are then COPY'd straight into van_phones: a single
// row has nothing to conflict with, so it needs neither the rules across
// rows nor an upsert, and a run of consecutive rows of one person (as
// exports sorted by VANID have) is settled in Go by the same rules first
// (the preferred-phone rule, see lastPreferred; then the last row of each
// number is kept). Every other row (a person with phones, an unmatched VANID, a
// person whose rows are not consecutive) is written to a spool file in
// COPY's binary format and goes, after the COPY, through the general
// rules as set-based SQL over a narrow typed table. A person's rows all
// take one way or the other: when a person COPY'd straight turns up again
// later in the file, his rows are moved back from van_phones into the
// staged rows before the rules run (a settled run's original rows are
// spooled beside for this, with the warnings the rules found), so both
// ways give the same phones, warnings and statistics.
//
// When nobody of the database has a phone yet, the COPY does not wait for
// the VANIDs: until they are read, rows are routed by a map of the VANIDs
// seen so far (consecutive rows then take the general rules), and once
// they are in, a row COPY'd for someone who is not a person of the
// database is moved back like a person listed again.
//
// Memory is bounded by the database, not the file: 8 bytes per person of
// the key's database for the VANIDs, 4 for the line of his first row and
// four bits; before the VANIDs are read, a map of at most maxEarlyPhones
// rows.

// maxGroup bounds the consecutive rows of one person held back; a person
// with more takes the general rules.
const maxGroup = 64

// maxEarlyPhones bounds the rows routed before the VANIDs are read (the
// map costs about 50 bytes a row); past it the load waits for them.
const maxEarlyPhones = 1 << 18

// phonesFast is the direct path's state of a load's phonesFile action.
type phonesFast struct {
	rule   *phonesRule
	dbMode int16
	people *personIndex

	// By position in people: every row goes to the staged rows (the
	// person has phones, or too many consecutive rows); rows went straight
	// to van_phones; a later row came after that; those rows were
	// consecutive rows settled in Go (else one row, of line firstLine).
	staged, seen, multi, grouped []uint64
	firstLine                    []uint32

	group      []phone // consecutive rows of one person, held back
	groupLines []int64
	groupPos   int     // -1 before the VANIDs are read
	out        []phone // the rows the COPY encodes next
	row        []any   // what the stager is given when out has rows

	spool   *os.File // rows of fileload_phones
	w       *bufio.Writer
	enc     []byte
	spooled int64
	staging bool // fileload_phones exists
	// shadow holds the original rows of the groups settled in Go, each
	// with the line of the row that kept the preferred mark it lost (0:
	// none).
	shadow     *os.File
	sw         *bufio.Writer
	shadowRows int64

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
// direct path (its only action), nil otherwise.
func directPhones(rules []rule) *phonesRule {
	if len(rules) != 1 {
		return nil
	}
	r, _ := rules[0].(*phonesRule)
	return r
}

// newPhonesFast returns the direct path's state for r.
func newPhonesFast(r *phonesRule) *phonesFast {
	f := &phonesFast{rule: r, dbMode: r.dbMode}
	f.row = []any{f}
	return f
}

// directPhonesLoader is the loader of a load whose only action is
// phonesFile: stage COPYs rows straight into van_phones or spools them
// for the rules across rows (copyPhones, then settle), apply upserts the
// spooled ones.
type directPhonesLoader struct {
	job  loadJob
	fast *phonesFast
	late *lateIndex // the VANIDs, read while the file is fetched; nil: none
}

// newDirectPhonesLoader starts reading the VANIDs on a connection of its
// own, when the pool has one to spare.
func newDirectPhonesLoader(ctx context.Context, j loadJob, r *phonesRule) *directPhonesLoader {
	return &directPhonesLoader{job: j, fast: newPhonesFast(r), late: readLate(ctx, j.store.Pool, j.fl.DBMode, j.log)}
}

func (l *directPhonesLoader) stage(ctx context.Context, tx pgx.Tx, st *stager) error {
	if err := copyPhones(ctx, tx, l.late, l.fast, st, l.job.opts.SpoolDir, l.job.log); err != nil {
		return err
	}
	return settleWith(ctx, tx, l.fast.rule.index, l.fast, st)
}

func (l *directPhonesLoader) apply(ctx context.Context, tx pgx.Tx, rowsRead int64) error {
	if err := l.fast.apply(ctx, tx, l.job.id, rowsRead, l.job.log); err != nil {
		return fmt.Errorf("apply actions[%d]: %w", l.fast.rule.index, err)
	}
	return nil
}

func (l *directPhonesLoader) close() {
	if l.late != nil {
		l.late.stop()
	}
	l.fast.close()
}

// close removes the spool files.
func (f *phonesFast) close() {
	for _, fp := range []**os.File{&f.spool, &f.shadow} {
		if *fp != nil {
			(*fp).Close()
			os.Remove((*fp).Name())
			*fp = nil
		}
	}
}

func bit(set []uint64, pos int) bool { return set[pos/64]&(1<<(pos%64)) != 0 }
func setBit(set []uint64, pos int)   { set[pos/64] |= 1 << (pos % 64) }

// copyPhones takes the phone loads' lock, reads the VANIDs (from late when
// not nil) and who has phones, and COPYs the file's rows into van_phones,
// spooling those that need the general rules, all in tx.
func copyPhones(ctx context.Context, tx pgx.Tx, late *lateIndex, f *phonesFast, st *stager, spoolDir string, log *slog.Logger) error {
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
	if f.shadow, err = os.CreateTemp(spoolDir, "turnout-fileload-phones-*"); err != nil {
		return fmt.Errorf("create phones spool file: %w", err)
	}
	f.sw = bufio.NewWriterSize(f.shadow, 64<<10)
	st.route = func(_ rule, line int64, row stagedRow) ([]any, error) { return f.take(line, *row.phone) }
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, &binaryCopy{next: phoneRows(st, f)},
		`COPY van_phones (db_mode, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score) FROM STDIN (FORMAT binary)`); err != nil {
		return err
	}
	if err := f.w.Flush(); err != nil {
		return fmt.Errorf("write phones spool file: %w", err)
	}
	if err := f.sw.Flush(); err != nil {
		return fmt.Errorf("write phones spool file: %w", err)
	}
	log.Info("phones copied", "direct", f.direct, "staged", f.spooled, "settled_in_go", f.shadowRows)
	return nil
}

func (f *phonesFast) adoptIndex(x *personIndex) {
	f.people = x
	words := (len(x.keys) + 63) / 64
	f.staged, f.seen, f.multi, f.grouped = make([]uint64, words), make([]uint64, words), make([]uint64, words), make([]uint64, words)
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
	if len(f.group) > 0 {
		pos, _, ok := f.people.lookup(f.group[0].vanid)
		if !ok {
			return f.stageGroup()
		}
		f.groupPos = pos
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

// take routes p, the row of line: it returns f.row
// when the COPY is to encode f.out (the rows held back before this one),
// nil otherwise.
func (f *phonesFast) take(line int64, p phone) ([]any, error) {
	if f.late != nil {
		if !f.late.ready() && f.earlyRows < maxEarlyPhones {
			f.earlyRows++
			return f.takeEarly(line, p)
		}
		if err := f.adopt(); err != nil {
			return nil, err
		}
	}
	pos, _, matched := f.people.lookup(p.vanid)
	if len(f.group) > 0 {
		if matched && pos == f.groupPos {
			if len(f.group) < maxGroup {
				f.group, f.groupLines = append(f.group, p), append(f.groupLines, line)
				return nil, nil
			}
			setBit(f.staged, pos)
			if err := f.stageGroup(); err != nil {
				return nil, err
			}
			return nil, f.stage(line, &p)
		}
		if err := f.release(); err != nil {
			return nil, err
		}
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
		f.group, f.groupLines, f.groupPos = append(f.group, p), append(f.groupLines, line), pos
	}
	if err != nil || len(f.out) == 0 {
		return nil, err
	}
	return f.row, nil
}

// takeEarly is take before the VANIDs are read, when nobody has phones:
// the maps stand in for the bitsets, and every VANID for a person. A
// person's consecutive rows take the general rules.
func (f *phonesFast) takeEarly(line int64, p phone) ([]any, error) {
	if len(f.group) > 0 {
		if p.vanid == f.group[0].vanid {
			f.earlyStaged[p.vanid] = true
			if err := f.stageGroup(); err != nil {
				return nil, err
			}
			return nil, f.stage(line, &p)
		}
		if err := f.release(); err != nil {
			return nil, err
		}
	}
	var err error
	if _, ok := f.early[p.vanid]; ok {
		f.earlyAgain = append(f.earlyAgain, p.vanid)
		err = f.stage(line, &p)
	} else if f.earlyStaged[p.vanid] || line > math.MaxUint32 {
		f.earlyStaged[p.vanid] = true
		err = f.stage(line, &p)
	} else {
		f.group, f.groupLines, f.groupPos = append(f.group, p), append(f.groupLines, line), -1
	}
	if err != nil || len(f.out) == 0 {
		return nil, err
	}
	return f.row, nil
}

// stageGroup sends the held-back rows to the staged rows.
func (f *phonesFast) stageGroup() error {
	for i := range f.group {
		if err := f.stage(f.groupLines[i], &f.group[i]); err != nil {
			return err
		}
	}
	f.group, f.groupLines = f.group[:0], f.groupLines[:0]
	return nil
}

// release makes the held-back rows the next to COPY straight: one row as
// it is; several with the rules across rows applied (the preferred-phone
// rule, then the last row of each number is kept), their originals spooled
// to the shadow file with the line that demoted them, if any.
func (f *phonesFast) release() error {
	g, lines := f.group, f.groupLines
	f.group, f.groupLines = f.group[:0], f.groupLines[:0]
	if len(g) == 1 {
		f.out = append(f.out, g[0])
		if f.late != nil {
			f.early[g[0].vanid] = lines[0]
		} else {
			setBit(f.seen, f.groupPos)
			f.firstLine[f.groupPos] = uint32(lines[0])
		}
		f.direct++
		if g[0].preferred {
			f.directPreferred++
		}
		return nil
	}
	win := lastPreferred(g)
	for i := range g {
		var keeper int64
		if demoted(g, win, i) {
			keeper = lines[win]
		}
		if err := f.spoolShadow(lines[i], keeper, &g[i]); err != nil {
			return err
		}
		last := true
		for j := i + 1; j < len(g) && last; j++ {
			last = g[j].number != g[i].number
		}
		if last {
			p := g[i]
			p.preferred = p.preferred && keeper == 0
			f.out = append(f.out, p)
			f.direct++
			if p.preferred {
				f.directPreferred++
			}
		}
	}
	setBit(f.seen, f.groupPos)
	setBit(f.grouped, f.groupPos)
	return nil
}

// spoolShadow spools an original row of a group settled in Go: the line
// that kept the preferred mark it lost (0: none), its length, and the row
// as fileload_phones takes it.
func (f *phonesFast) spoolShadow(line, keeper int64, p *phone) error {
	e := binary.BigEndian.AppendUint64(f.enc[:0], uint64(keeper))
	e = append(e, 0, 0, 0, 0)
	e = binary.BigEndian.AppendUint16(e, 9)
	e = appendInt8(e, line)
	e = appendInt8(e, p.vanid)
	e = appendPhoneTail(e, p)
	binary.BigEndian.PutUint32(e[8:12], uint32(len(e)-12))
	f.enc = e
	f.shadowRows++
	_, err := f.sw.Write(e)
	return err
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

// phoneRows appends the rows of van_phones the stager's route lets
// through to e in COPY's binary format, and at the end the rows still held
// back.
func phoneRows(st *stager, f *phonesFast) func(e []byte) ([]byte, bool, error) {
	return func(e []byte) ([]byte, bool, error) {
		more := st.Next()
		if !more {
			if err := st.Err(); err != nil {
				return e, false, err
			}
			if len(f.group) > 0 {
				if err := f.release(); err != nil {
					return e, false, err
				}
			}
		}
		for i := range f.out {
			e = binary.BigEndian.AppendUint16(e, 9)
			e = append(e, 0, 0, 0, 2)
			e = binary.BigEndian.AppendUint16(e, uint16(f.dbMode))
			e = appendInt8(e, f.out[i].vanid)
			e = appendPhoneTail(e, &f.out[i])
		}
		f.out = f.out[:0]
		return e, more, nil
	}
}

// settle loads the spooled rows into fileload_phones, moves back the rows
// of people COPY'd straight who turned up again, and applies the
// preferred-phone rule to them.
func (f *phonesFast) settle(ctx context.Context, tx pgx.Tx, warn func(line int64, column, message string)) error {
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
			line := int64(f.firstLine[pos])
			if bit(f.grouped, pos) {
				line = -1 // the originals come from the shadow file
			}
			vanids, lines = append(vanids, f.people.keys[pos]), append(lines, line)
		}
	}
	if err := f.readShadow(warn); err != nil {
		return err
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
				INSERT INTO fileload_phones SELECT line, vanid, phone, phone_type, phone_source, preferred, ext, opt_in_status, sonar_score
				FROM back WHERE line >= 0
			)
			SELECT count(*), count(*) FILTER (WHERE preferred) FROM back`, f.dbMode, vanids, lines).Scan(&moved, &preferred); err != nil {
			return fmt.Errorf("move back phones of people listed again: %w", err)
		}
		f.direct -= moved
		f.directPreferred -= preferred
	}
	// Statistics before the first query over the rows.
	if _, err := tx.Exec(ctx, `ANALYZE fileload_phones`); err != nil {
		return err
	}
	return f.rule.demotePreferred(ctx, tx, stagedPhones{table: "fileload_phones", rows: "true",
		person: "s.vanid", number: "s.phone", preferred: "s.preferred", clear: "preferred = false"}, warn)
}

// readShadow goes through the original rows of the groups settled in Go:
// those of a person who turned up again go to the staged rows; of the
// others, the rows that lost the preferred mark are warned about.
func (f *phonesFast) readShadow(warn func(line int64, column, message string)) error {
	if f.shadowRows == 0 {
		return nil
	}
	if _, err := f.shadow.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(f.shadow, 64<<10)
	var head [12]byte
	for range f.shadowRows {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return fmt.Errorf("read phones spool file: %w", err)
		}
		row := slices.Grow(f.enc[:0], int(binary.BigEndian.Uint32(head[8:])))[:binary.BigEndian.Uint32(head[8:])]
		if _, err := io.ReadFull(br, row); err != nil {
			return fmt.Errorf("read phones spool file: %w", err)
		}
		f.enc = row
		// The row: field count (2 bytes), line and VANID (4-byte length
		// and 8 bytes each), then the rest.
		line, vanid := int64(binary.BigEndian.Uint64(row[6:14])), int64(binary.BigEndian.Uint64(row[18:26]))
		if pos, _, ok := f.people.lookup(vanid); ok && bit(f.multi, pos) {
			f.spooled++
			if _, err := f.w.Write(row); err != nil {
				return err
			}
			continue
		}
		if keeper := int64(binary.BigEndian.Uint64(head[:8])); keeper != 0 {
			warn(line, "PreferredPhone", demotedWarning(keeper))
		}
	}
	return f.w.Flush()
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
