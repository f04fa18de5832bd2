package van_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// zipBomb is a small zip whose one entry inflates to 64 MiB of zeros.
func zipBomb(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("haberdashery.csv")
	zeros := make([]byte, 1<<20)
	for range 64 {
		_, _ = w.Write(zeros)
	}
	_ = zw.Close()
	return buf.Bytes()
}

func encryptedZip(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "haberdashery.csv", Method: zip.Store, Flags: 0x1})
	_, _ = w.Write([]byte("ciphertext"))
	_ = zw.Close()
	return buf.Bytes()
}

func testdata(t *testing.T, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInputCorpus runs every file of the corpus through the whole
// pipeline and checks the exact outcome: a failed job with its message and
// nothing written, or a completed job that loaded the good rows and
// reported each bad one.
func TestBadInputCorpus(t *testing.T) {
	s := newStack(t, options{allow: loopback})
	s.people(4, 0)
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	asZip := func(name string) []byte { return zipOf(t, "haberdashery.csv", string(testdata(t, name))) }
	huge := "hatWearerId,hatWearingScore,needsAnotherHatScore\n1," + strings.Repeat("9", 2<<20) + ",75.2\n"
	type rowErr struct {
		line    int64
		message string
	}
	cases := []struct {
		name    string
		file    []byte
		fail    string // exact job message when the job must fail
		failHas string // or a part of it
		errors  []rowErr
		matched [2]int64
	}{
		{name: "bad zip", file: testdata(t, "bad.zip"), fail: "file: not a readable zip archive (bad format)"},
		{name: "zip bomb", file: zipBomb(t), failHas: "above the 200:1 limit (zip bomb?)"},
		{name: "encrypted entry", file: encryptedZip(t), fail: `file: zip entry "haberdashery.csv" is encrypted; upload it without a password`},
		{name: "missing entry", file: zipOf(t, "a.csv", "x", "b.csv", "y"), fail: `file.fileName: "haberdashery.csv" is not in the zip archive (it has a.csv, b.csv)`},
		{name: "empty zip", file: zipOf(t), fail: "file: the zip archive is empty or not a single-part archive"},
		{name: "wrong delimiter", file: asZip("wrong-delimiter.csv"),
			fail: "file.hasHeader: the header row has one field, file.columns has 3 (hatWearerId, hatWearingScore, needsAnotherHatScore); is file.columnDelimiter (Csv) right?"},
		{name: "empty file", file: testdata(t, "empty.csv"), fail: "file: the file is empty"},
		{name: "empty zip entry", file: zipOf(t, "haberdashery.csv", ""), fail: "file: the file has no rows"},
		{name: "header only", file: asZip("header-only.csv"), fail: "file: the file has a header but no data rows"},
		{name: "huge field", file: []byte(huge), fail: "file: line 2: field 2 is longer than 65536 bytes (the field limit; is a quote left open?); the file cannot be read further"},
		{name: "no valid rows", file: asZip("bad-person-ids.csv"), fail: `file: none of the 2 rows is valid for any action; first error: line 2, column hatWearerId: VANID is not a positive integer`},
		{name: "ragged rows", file: asZip("ragged-rows.csv"), matched: [2]int64{2, 2}, errors: []rowErr{
			{3, "has 2 fields, want 3 (file.columns); check the delimiter and quoting"},
			{4, "has 4 fields, want 3 (file.columns); check the delimiter and quoting"}}},
		{name: "bad UTF-8", file: asZip("bad-utf8.csv"), matched: [2]int64{2, 2}, errors: []rowErr{
			{3, "field 2 is not valid UTF-8; the file must be UTF-8 encoded"}}},
		{name: "out of range", file: asZip("out-of-range.csv"), matched: [2]int64{3, 3}, errors: []rowErr{
			{3, fmt.Sprintf("150 is outside score %d's range [0, 100]", a)},
			{4, fmt.Sprintf("-1 is outside score %d's range [0, 100]", b)}}},
		{name: "non-numeric", file: asZip("non-numeric.csv"), matched: [2]int64{3, 3}, errors: []rowErr{
			{3, `"abc" is not a number`}, {4, `"NaN" is not a number`}}},
		{name: "unknown person ids", file: asZip("unknown-person-ids.csv"), matched: [2]int64{2, 2}},
		{name: "plain CSV with BOM and quotes", file: testdata(t, "bom-quotes.csv"), matched: [2]int64{2, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := s.serve("/"+strings.ReplaceAll(tc.name, " ", "-"), tc.file)
			id := s.submit(exampleRequest(u, a, b, "[]"))
			v := s.wait(id)
			ctx := context.Background()
			var updates int
			_ = s.env.Pool.QueryRow(ctx, `SELECT count(*) FROM van_score_updates WHERE job_id = $1`, id).Scan(&updates)
			if tc.fail != "" || tc.failHas != "" {
				msg := deref(v.Message)
				if v.Status != "Error" || (tc.fail != "" && msg != tc.fail) || !strings.Contains(msg, tc.failHas) {
					t.Fatalf("status %s message\n  %q\nwant Error with\n  %q%q", v.Status, msg, tc.fail, tc.failHas)
				}
				if updates != 0 {
					t.Errorf("a failed job wrote %d score updates", updates)
				}
				return
			}
			if v.Status != "Completed" {
				t.Fatalf("status %s (%s), want Completed", v.Status, deref(v.Message))
			}
			for i, want := range tc.matched {
				if r := v.Actions[i].Results; r == nil || r.Matched != want {
					t.Errorf("actions[%d] results %+v, want %d matched", i, r, want)
				}
			}
			if len(v.Errors) != len(tc.errors) {
				t.Fatalf("row errors %+v, want %d", v.Errors, len(tc.errors))
			}
			for i, want := range tc.errors {
				if got := v.Errors[i]; got.Line != want.line || got.Message != want.message {
					t.Errorf("errors[%d] = line %d %q, want line %d %q", i, got.Line, got.Message, want.line, want.message)
				}
			}
			if len(tc.errors) > 0 {
				if v.ErrorFile == "" {
					t.Fatal("no error file linked from the job")
				}
				resp, body := s.do(http.MethodGet, v.ErrorFile, "")
				first := fmt.Sprintf("%d,", tc.errors[0].line)
				if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "line,actionIndex,column,message,severity\n") ||
					!strings.Contains(string(body), first) {
					t.Errorf("error file: %d %q", resp.StatusCode, body)
				}
			}
		})
	}
	// Unknown ids are counted, not loaded.
	var n int
	_ = s.env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM van_person_scores WHERE vanid > 4`).Scan(&n)
	if n != 0 {
		t.Errorf("%d scores for people who do not exist", n)
	}
}
