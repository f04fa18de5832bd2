package fileload

import (
	"math/rand/v2"
	"testing"
)

func TestAVEVDatesAcceptedFormats(t *testing.T) {
	cases := map[string]string{
		"9/1/2024":   "2024-09-01",
		"09/01/2024": "2024-09-01",
		"2024-09-01": "2024-09-01",
		"12/31/1999": "1999-12-31",
	}
	for in, want := range cases {
		if got, ok := parseAVEVDate(in); !ok || got != want {
			t.Errorf("parseAVEVDate(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"13/01/2024", "2024/09/01", "1-9-2024", "9/1/24", "2/30/2024", "Sept 1 2024", "1/1/1800"} {
		if got, ok := parseAVEVDate(bad); ok {
			t.Errorf("parseAVEVDate(%q) = %q, want refused", bad, got)
		}
	}
}

func TestPhoneNANPPattern(t *testing.T) {
	for _, ok := range []string{"6125550101", "16125550101", "2025550199", "9085550100"} {
		if !nanp.MatchString(ok) {
			t.Errorf("%s refused", ok)
		}
	}
	// VAN's pattern: area code [2-9][0-8]\d, exchange [2-9].
	for _, bad := range []string{"1235550101", "6195550101x", "6121550101", "6925550101", "612555010", "26125550101", "612-555-0101"} {
		if nanp.MatchString(bad) {
			t.Errorf("%s accepted", bad)
		}
	}
}

// isNANP is what rows are checked with; it must accept exactly what VAN's
// documented phone pattern does.
func TestPhoneNANPCheckIsThePattern(t *testing.T) {
	cases := []string{"", "1", "16125550101", "6125550101", "1612555010", "11612555010", "26125550101", "1235550101",
		"6925550101", "6121550101", "6125550101\n", " 6125550101", "612555010a", "61255501012", "1٢125550101", "٦125550101"}
	rnd := rand.New(rand.NewPCG(4, 7))
	for range 20000 {
		b := make([]byte, 9+rnd.IntN(3))
		for j := range b {
			b[j] = "0123456789x"[rnd.IntN(11)]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if got, want := isNANP(c), nanp.MatchString(c); got != want {
			t.Errorf("isNANP(%q) = %v, the pattern says %v", c, got, want)
		}
	}
}

func TestAVEVColumnOrderIsVANs(t *testing.T) {
	f := File{}
	for _, n := range []string{"VanID", "RequestReceived", "BallotMailed", "BallotReceived", "EarlyVoted", "BallotParty",
		"BallotCancelled", "ApplicationMailed", "GOTVVoted", "DateApplicationReceived", "BallotRejected"} {
		f.Columns = append(f.Columns, Column{Name: n})
	}
	var p problems
	a := checkAVEVAction(&p, 0, f)
	if len(p) != 0 || a.PersonIDType != IDVANID || a.PersonIDColumn != "VanID" {
		t.Fatalf("required columns plus one optional, in order: %v %+v", p, a)
	}
	f.Columns[1], f.Columns[2] = f.Columns[2], f.Columns[1]
	p = nil
	checkAVEVAction(&p, 0, f)
	if len(p) != 1 || p[0].Field != "file.columns[2].name" {
		t.Errorf("swapped columns: %v", p)
	}
}
