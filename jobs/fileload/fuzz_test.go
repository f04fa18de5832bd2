package fileload

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/fault"
	"github.com/turnoutdev/turnout/internal/netguard"
	"github.com/turnoutdev/turnout/storage"
)

// scoreBook is an in-memory Catalog of scores and no folders: the fuzzers
// need millions of lookups a second, which a database round trip would
// make pointless.
type scoreBook map[int64]*storage.Score

func (scoreBook) FolderOfKey(context.Context, int64, int64) (storage.Folder, bool, error) {
	return storage.Folder{}, false, nil
}

func (scoreBook) SavedListOfKey(context.Context, int64, int64, int16) (storage.SavedList, bool, error) {
	return storage.SavedList{}, false, nil
}

func (scoreBook) SavedListNamed(context.Context, int64, string) (int64, error) { return 0, nil }

func (b scoreBook) Score(_ context.Context, id int64) (*storage.Score, error) {
	if s, ok := b[id]; ok {
		return s, nil
	}
	return nil, fault.New(fault.NotFound, "score %d not found", id)
}

func fuzzScores() scoreBook {
	lo, hi := 0.0, 100.0
	return scoreBook{
		112233: {ID: 112233, Type: storage.ScoreRange, MinValue: &lo, MaxValue: &hi},
		112234: {ID: 112234, Type: storage.ScoreRange, MinValue: &lo, MaxValue: &hi},
		7:      {ID: 7, Type: storage.ScoreValue, Values: []string{"Hat", "NoHat"}},
	}
}

// FuzzParseRequest: any body is either a request or a validation error
// listing fields; never a panic, never another kind of error.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"description":"Load habberdasher score","file":{"columnDelimiter":"Csv","columns":[{"name":"hatWearerId"},{"name":"hatWearingScore"},{"name":"needsAnotherHatScore"}],"fileName":"haberdashery.csv","hasHeader":true,"sourceUrl":"sftp://keep:secret@example.org/haberdasher.csv.zip"},"actions":[{"actionType":"score","personIdColumn":"hatWearerId","personIdType":"VANID","scoreColumn":"hatWearingScore","scoreId":112233},{"actionType":"score","personIdColumn":"hatWearerId","personIdType":"VANID","scoreColumn":"needsAnotherHatScore","scoreId":112234,"approvalCriteria":{"average":75.2,"tolerance":1.3}}],"listeners":[{"type":"URL","value":"https://example.org/l"},{"type":"EMAIL","value":"a@example.org"}]}`,
		`{"file":{"sourceUrl":"http://169.254.169.254/latest","columns":[]},"actions":[]}`,
		`{"file":{"columnDelimiter":"Pipe","hasHeader":"True","columns":[{"name":"a"},{"name":"a"}]},"actions":[{"actionType":"Score","scoreId":"7"}]}`,
		`null`, `[]`, `{"actions":[null,{}],"listeners":[{"type":"EMAIL","value":null}]}`,
	} {
		f.Add([]byte(seed))
	}
	scores := fuzzScores()
	guard := netguard.New(nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(context.Background(), body, scores, Caller{KeyID: 1, DBMode: 0, MayAutoApprove: true}, guard)
		if err != nil {
			fe := fault.As(err)
			if fe.Kind != fault.Invalid || len(fe.Fields) == 0 {
				t.Fatalf("error is not a validation error with fields: %v", err)
			}
			return
		}
		if r == nil || len(r.Actions) == 0 {
			t.Fatalf("accepted a request with no actions: %s", body)
		}
		if strings.Contains(r.Redacted().File.SourceURL, "secret") {
			t.Fatalf("redacted source URL still carries the password: %s", r.Redacted().File.SourceURL)
		}
	})
}

// FuzzReadFile: any bytes, as a zip or a plain file, are read to the end
// as rows or rejected with a fault; rows checked by a score rule yield a
// value or a problem. The reader never panics and never returns more
// fields than the file declares.
func FuzzReadFile(f *testing.F) {
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("data.csv")
	_, _ = w.Write([]byte("id,score\n101,50\n102,abc\n"))
	_ = zw.Close()
	f.Add(zbuf.Bytes(), "Csv", true)
	f.Add([]byte("\xef\xbb\xbfid|score\r\n1|2\r\n\"3|4\n"), "Pipe", false)
	f.Add([]byte("id\tscore\n\xff\xfe\t1\n5\t\n"), "Tab", true)
	f.Add([]byte("PK\x05\x06"), "Csv", false)
	f.Add([]byte{}, "Csv", true)
	dir := f.TempDir()
	lim := ZipLimits{MaxUncompressed: 1 << 20, MaxRatio: 200}
	f.Fuzz(func(t *testing.T, data []byte, delim string, quotes bool) {
		p := filepath.Join(dir, "spool")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		rc, err := openData(fh, int64(len(data)), "data.csv", lim)
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("openData: %v, want an Invalid fault", err)
			}
			return
		}
		defer rc.Close()
		file := File{ColumnDelimiter: delim, HasQuotes: quotes, HasHeader: true, Columns: []Column{{Name: "id"}, {Name: "score"}}}
		rule := newScoreRule(0, Action{ActionType: "Score", PersonIDColumn: "id", PersonIDType: IDVANID, ScoreColumn: "score", ScoreID: 112233}, fuzzScores()[112233], file)
		r := newReader(rc, file, CSVLimits{})
		for i := 0; i < 10000; i++ {
			rec, _, err := r.next(false)
			if err == io.EOF {
				return
			}
			if err != nil {
				if asRowError(err) != nil {
					continue
				}
				if fault.KindOf(err) != fault.Invalid {
					t.Fatalf("read: %v, want a row error or an Invalid fault", err)
				}
				return
			}
			if len(rec) != 2 {
				t.Fatalf("record with %d fields passed the field-count check", len(rec))
			}
			row, _, problem := rule.check(rec)
			if problem == "" && row.personText() == "" {
				t.Fatalf("row %q accepted without a person id", rec)
			}
			if problem != "" && row.value != nil {
				t.Fatalf("row %q has both a value and a problem", rec)
			}
		}
	})
}
