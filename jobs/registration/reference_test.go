package registration

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// statesFixture reads states.json independently of LoadReference, so the
// rule tests are driven by the facts themselves.
func statesFixture(t testing.TB) []State {
	t.Helper()
	raw, err := os.ReadFile("data/states.json")
	if err != nil {
		t.Fatal(err)
	}
	var ss []State
	if err := json.Unmarshal(raw, &ss); err != nil {
		t.Fatal(err)
	}
	return ss
}

func mustRef(t testing.TB) *Reference {
	t.Helper()
	r, err := LoadReference()
	if err != nil {
		t.Fatalf("LoadReference: %v", err)
	}
	return r
}

func TestReferenceHasEveryState(t *testing.T) {
	r := mustRef(t)
	if n := len(r.States()); n != 51 {
		t.Fatalf("got %d states, want 50 and DC", n)
	}
	for _, want := range statesFixture(t) {
		got, ok := r.State(want.Abbreviation)
		if !ok || got.Name != want.Name || len(got.Parties) != len(want.Parties) {
			t.Errorf("state %s: got %+v", want.Abbreviation, got)
		}
	}
	if _, ok := r.State("AJ"); ok {
		t.Error("AJ is a state")
	}
}

func TestStateOfZIP(t *testing.T) {
	r := mustRef(t)
	for _, c := range []struct{ zip, want string }{
		{"10001", "NY"}, {"90210", "CA"}, {"02134", "MA"}, {"20001", "DC"}, {"99501", "AK"},
		{"03301", "NH"}, {"58501", "ND"}, {"82001", "WY"}, {"10001-1234", "NY"},
		{"10097", "NY"}, // not in the 5-digit table: found by its prefix
		{"00601", ""},   // Puerto Rico is not one of the 51
		{"1000", ""}, {"ABCDE", ""}, {"100011", ""}, {"", ""},
	} {
		s, ok := r.StateOfZIP(c.zip)
		got := ""
		if ok {
			got = s.Abbreviation
		}
		if got != c.want {
			t.Errorf("StateOfZIP(%q) = %q, want %q", c.zip, got, c.want)
		}
	}
}

func TestEveryZIPRowResolvesToItsState(t *testing.T) {
	r := mustRef(t)
	raw, _ := os.ReadFile("data/zip5-state.csv")
	n := 0
	for _, line := range splitLines(string(raw)) {
		zip, st := line[:5], line[6:]
		if _, isState := r.State(st); !isState {
			continue
		}
		if s, ok := r.StateOfZIP(zip); !ok || s.Abbreviation != st {
			t.Fatalf("ZIP %s: want %s", zip, st)
		}
		n++
	}
	if n < 40000 {
		t.Fatalf("only %d ZIP rows checked", n)
	}
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if line := s[:i]; len(line) >= 7 {
			out = append(out, line)
		}
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

func date(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNextGeneralElection(t *testing.T) {
	for _, c := range []struct{ day, want string }{
		{"2026-11-23", "2028-11-07"},
		{"2026-01-01", "2026-11-03"},
		{"2026-11-03", "2026-11-03"},
		{"2027-05-01", "2028-11-07"},
		{"2024-10-01", "2024-11-05"},
	} {
		if got := NextGeneralElection(date(c.day)); !got.Equal(date(c.want)) {
			t.Errorf("NextGeneralElection(%s) = %s, want %s", c.day, got.Format("2006-01-02"), c.want)
		}
	}
}

// Pre-registration rules, each checked just inside and just outside its
// bound. "now" is 2026-01-10; the next general election is 2026-11-03.
func TestMayRegisterByRule(t *testing.T) {
	now := date("2026-01-10")
	for _, c := range []struct {
		rule string
		dob  string
		want bool
	}{
		{"blank", "2008-01-10", true}, // 18 today
		{"blank", "2008-01-11", false},
		{"once_turned_16", "2010-01-10", true},
		{"once_turned_16", "2010-01-11", false},
		{"when_is_16", "2010-01-10", true},
		{"once_turned_17", "2009-01-10", true},
		{"once_turned_17", "2009-01-11", false},
		{"once_turned_17_but", "2009-01-10", true},
		{"17_turn_18", "2008-11-03", true},  // 17, 18 on election day
		{"17_turn_18", "2008-11-04", false}, // 18 the day after
		{"turn_by_next_election", "2008-11-03", true},
		{"turn_by_next_election", "2008-11-04", false},
		{"be_by_next_general_election_november", "2008-11-03", true},
		{"6_months_before", "2008-07-10", true},
		{"6_months_before", "2008-07-11", false},
		{"2_months_before", "2008-03-10", true},
		{"2_months_before", "2008-03-11", false},
		{"90_days_before", "2008-04-10", true},
		{"90_days_before", "2008-04-11", false},
	} {
		s := &State{Name: "X", PreRegistrationRule: c.rule}
		if got := MayRegister(s, date(c.dob), now); got != c.want {
			t.Errorf("%s, born %s: MayRegister = %v, want %v", c.rule, c.dob, got, c.want)
		}
	}
}

func TestEveryRuleHasMessages(t *testing.T) {
	r := mustRef(t)
	for _, s := range r.States() {
		for _, lang := range Languages {
			for name, m := range map[string]string{
				"sub_18": s.Sub18Msg(lang), "race": s.RequiresRaceMsg(lang), "party": s.RequiresPartyMsg(lang),
				"id": s.IDNumberMsg(lang), "not participating": s.NotParticipatingMsg(lang),
			} {
				if m == "" {
					t.Errorf("%s %s: empty %s message", s.Abbreviation, lang, name)
				}
			}
			for _, p := range s.PartyList(lang) {
				if _, known := partyNames[p]; known {
					t.Errorf("%s %s: party %q has no display name", s.Abbreviation, lang, p)
				}
			}
		}
		if s.PreRegistrationRule != "blank" && s.Sub18Msg("en") == (&State{Name: s.Name}).Sub18Msg("en") && s.Participating {
			t.Errorf("%s: rule %q has no message of its own", s.Abbreviation, s.PreRegistrationRule)
		}
	}
}
