package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

// peopleHeaders maps the import file's header names (any case) to
// storage.PersonColumns.
var peopleHeaders = map[string]string{
	"vanid": "vanid", "dwid": "dwid", "statefileid": "statefileid", "firstname": "first_name",
	"middlename": "middle_name", "lastname": "last_name", "dateofbirth": "date_of_birth", "address": "address",
	"city": "city", "state": "state", "zip": "zip", "email": "email", "phone": "phone",
}

func peopleCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		return errors.New("usage: turnout people import --db-mode 0|1 FILE.csv")
	}
	fs := flag.NewFlagSet("people import", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	mode := fs.String("db-mode", "", "VAN database mode: 0 = My Voters, 1 = My Campaign (required)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos := parseInterspersed(fs, args[1:])
	if *mode != "0" && *mode != "1" {
		return errors.New("--db-mode: want 0 (My Voters) or 1 (My Campaign)")
	}
	if len(pos) != 1 {
		return errors.New("usage: turnout people import --db-mode 0|1 FILE.csv")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	src, err := newPeopleSource(f, e.errOut)
	if err != nil {
		return err
	}
	m, _ := strconv.Atoi(*mode)
	n, err := s.ImportPeople(ctx, int16(m), src)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.out).Encode(map[string]any{"imported": n, "rejected": src.bad, "dbMode": m})
	}
	fmt.Fprintf(e.out, "%d people imported into database mode %d, %d rows rejected\n", n, m, src.bad)
	return nil
}

// peopleSource streams a people CSV into COPY, reporting bad rows (with
// their line numbers) instead of loading them.
type peopleSource struct {
	cr     *csv.Reader
	index  []int // PersonColumns position → CSV field, -1 if absent
	row    []any
	bad    int64
	errOut io.Writer
	err    error
}

func newPeopleSource(r io.Reader, errOut io.Writer) (*peopleSource, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	pos := map[string]int{}
	for i, h := range header {
		col, ok := peopleHeaders[strings.ToLower(strings.TrimSpace(h))]
		if !ok {
			return nil, fmt.Errorf("line 1: unknown column %q (want VANID, DWID, StateFileID, FirstName, MiddleName, LastName, DateOfBirth, Address, City, State, Zip, Email, Phone)", h)
		}
		pos[col] = i
	}
	if _, ok := pos["vanid"]; !ok {
		return nil, errors.New("line 1: the VANID column is required")
	}
	s := &peopleSource{cr: cr, errOut: errOut}
	for _, c := range storage.PersonColumns {
		i, ok := pos[c]
		if !ok {
			i = -1
		}
		s.index = append(s.index, i)
	}
	return s, nil
}

func (s *peopleSource) reject(line int, format string, a ...any) {
	s.bad++
	if s.bad <= 100 {
		fmt.Fprintf(s.errOut, "line %d: %s\n", line, fmt.Sprintf(format, a...))
	} else if s.bad == 101 {
		fmt.Fprintln(s.errOut, "(further bad rows are counted, not listed)")
	}
}

func (s *peopleSource) Next() bool {
	for {
		rec, err := s.cr.Read()
		if errors.Is(err, io.EOF) {
			return false
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			s.reject(pe.StartLine, "%v", pe.Err)
			continue
		}
		if err != nil {
			s.err = err
			return false
		}
		line, _ := s.cr.FieldPos(0)
		if row, problem := s.convert(rec); problem != "" {
			s.reject(line, "%s", problem)
		} else {
			s.row = row
			return true
		}
	}
}

func (s *peopleSource) convert(rec []string) ([]any, string) {
	row := make([]any, len(storage.PersonColumns))
	for j, c := range storage.PersonColumns {
		i := s.index[j]
		if i < 0 || i >= len(rec) || strings.TrimSpace(rec[i]) == "" {
			if c == "vanid" {
				return nil, "VANID is blank"
			}
			continue
		}
		v := strings.TrimSpace(rec[i])
		switch c {
		case "vanid", "dwid":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return nil, fmt.Sprintf("%s %q is not a positive integer", strings.ToUpper(c), v)
			}
			row[j] = n
		case "date_of_birth":
			d, err := time.Parse("2006-01-02", v)
			if err != nil {
				return nil, fmt.Sprintf("DateOfBirth %q is not a date (YYYY-MM-DD)", v)
			}
			row[j] = d
		case "email":
			if a, err := mail.ParseAddress(v); err != nil || a.Name != "" {
				return nil, fmt.Sprintf("Email %q is not an address", v)
			}
			row[j] = v
		default:
			row[j] = v
		}
	}
	return row, ""
}

func (s *peopleSource) Values() ([]any, error) { return s.row, nil }
func (s *peopleSource) Err() error             { return s.err }

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Donald", "Radia", "John", "Lynn", "Niklaus", "Shafi", "Leslie"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen", "Knuth", "Perlman", "Backus", "Conway", "Wirth", "Goldwasser", "Lamport"}
	cities     = []string{"Springfield,IL,627", "Madison,WI,537", "Columbus,OH,432", "Richmond,VA,232", "Phoenix,AZ,850", "Denver,CO,802"}
)

func genCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "people" {
		return errors.New("usage: turnout gen people --count N [--seed S] [--out FILE]")
	}
	fs := flag.NewFlagSet("gen people", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	count := fs.Int("count", 1000, "people to generate")
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same file")
	out := fs.String("out", "", "write to FILE instead of standard output")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *count < 0 {
		return errors.New("--count must not be negative")
	}
	w := e.out
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := genPeople(bw, *count, *seed); err != nil {
		return err
	}
	return bw.Flush()
}

// genPeople writes synthetic people: VANIDs 1..count (so score files can
// refer to them), everything else drawn from a PCG seeded with seed.
func genPeople(w io.Writer, count int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 0x7475726e6f7574))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"VANID", "DWID", "StateFileID", "FirstName", "LastName", "DateOfBirth", "Address", "City", "State", "Zip", "Email", "Phone"})
	for i := 1; i <= count; i++ {
		first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
		city := strings.Split(cities[r.IntN(len(cities))], ",")
		dob := time.Date(1940+r.IntN(65), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		_ = cw.Write([]string{
			strconv.Itoa(i), strconv.Itoa(50000000 + i), fmt.Sprintf("SF%09d", i), first, last, dob.Format("2006-01-02"),
			fmt.Sprintf("%d %s St", 1+r.IntN(9999), lastNames[r.IntN(len(lastNames))]), city[0], city[1],
			fmt.Sprintf("%s%02d", city[2], r.IntN(100)),
			fmt.Sprintf("%s.%s.%d@example.org", strings.ToLower(first), strings.ToLower(last), i),
			fmt.Sprintf("555%07d", r.IntN(10000000)),
		})
	}
	cw.Flush()
	return cw.Error()
}

func scoresCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: turnout scores create --name N [--short-name S] (--min A --max B | --values v1,v2) [--json]")
	}
	fs := flag.NewFlagSet("scores create", flag.ContinueOnError)
	fs.SetOutput(e.errOut)
	name := fs.String("name", "", "score name (required)")
	short := fs.String("short-name", "", "short name (default: the name)")
	desc := fs.String("description", "", "description")
	minS := fs.String("min", "", "range score minimum")
	maxS := fs.String("max", "", "range score maximum")
	values := fs.String("values", "", "value score: comma-separated allowed short names")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	n := storage.NewScore{Name: *name, ShortName: *short, Description: *desc}
	for _, p := range []struct {
		flag string
		s    string
		dst  **float64
	}{{"min", *minS, &n.Min}, {"max", *maxS, &n.Max}} {
		if p.s == "" {
			continue
		}
		f, err := strconv.ParseFloat(p.s, 64)
		if err != nil {
			return fmt.Errorf("--%s: %q is not a number", p.flag, p.s)
		}
		*p.dst = &f
	}
	for _, v := range strings.Split(*values, ",") {
		if v = strings.TrimSpace(v); v != "" {
			n.Values = append(n.Values, v)
		}
	}
	s, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	sc, err := s.CreateScore(ctx, n)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.out).Encode(map[string]any{"scoreId": sc.ID, "name": sc.Name, "shortName": sc.ShortName,
			"minValue": sc.MinValue, "maxValue": sc.MaxValue, "values": sc.Values})
	}
	fmt.Fprintf(e.out, "score %d %q created\n", sc.ID, sc.Name)
	return nil
}
