package registration

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// data holds the state facts and ZIP tables; data/SOURCE.md says where they
// come from.
//
//go:embed data/states.json data/zip5-state.csv data/zip3-state.csv
var data embed.FS

// State is one state (or DC) as the national mail-in form treats it.
type State struct {
	Abbreviation  string   `json:"abbreviation"`
	Name          string   `json:"name"`
	Participating bool     `json:"participating"`
	RequiresRace  bool     `json:"requires_race"`
	RequiresParty bool     `json:"requires_party"`
	Parties       []string `json:"parties"`
	NoParty       string   `json:"no_party"`
	// IDLengthMin and IDLengthMax are nil for non-participating states.
	IDLengthMin           *int     `json:"id_length_min"`
	IDLengthMax           *int     `json:"id_length_max"`
	PreRegistrationRule   string   `json:"pre_registration_rule"`
	SOSAddressLines       []string `json:"sos_address_lines"`
	SOSPhone              string   `json:"sos_phone"`
	SOSURL                string   `json:"sos_url"`
	OnlineRegistrationURL *string  `json:"online_registration_url"`
}

// Default ID number bounds, for a state that sets none of its own.
const (
	defaultIDMin = 6
	defaultIDMax = 60
)

// IDBounds returns the state's ID number length bounds.
func (s *State) IDBounds() (lo, hi int) {
	lo, hi = defaultIDMin, defaultIDMax
	if s.IDLengthMin != nil {
		lo = *s.IDLengthMin
	}
	if s.IDLengthMax != nil {
		hi = *s.IDLengthMax
	}
	return lo, hi
}

// HasParty reports whether party is one of the state's party keys or its
// no-party option.
func (s *State) HasParty(party string) bool {
	for _, p := range s.Parties {
		if p == party {
			return true
		}
	}
	return party == s.NoParty
}

// Reference is the read-only state and ZIP data, loaded once at start-up
// and shared by every request and job.
type Reference struct {
	states map[string]*State
	order  []*State
	// zip5 maps a 5-digit ZIP (as a number) to 1 + the index of its state
	// in order; 0 means unknown. 100 KB, one probe per lookup.
	zip5 [100000]uint8
	zip3 [1000]uint8
}

// LoadReference parses the embedded data. It fails only if the embedded
// files are corrupt, which a test catches.
func LoadReference() (*Reference, error) {
	raw, err := data.ReadFile("data/states.json")
	if err != nil {
		return nil, err
	}
	var states []*State
	if err := json.Unmarshal(raw, &states); err != nil {
		return nil, fmt.Errorf("states.json: %w", err)
	}
	r := &Reference{states: map[string]*State{}}
	sort.Slice(states, func(i, j int) bool { return states[i].Abbreviation < states[j].Abbreviation })
	idx := map[string]uint8{}
	for i, s := range states {
		if len(s.Abbreviation) != 2 || len(s.Parties) == 0 {
			return nil, fmt.Errorf("states.json: bad entry %q", s.Abbreviation)
		}
		r.states[s.Abbreviation] = s
		r.order = append(r.order, s)
		idx[s.Abbreviation] = uint8(i + 1)
	}
	if err := loadZIPs("data/zip5-state.csv", 5, idx, r.zip5[:]); err != nil {
		return nil, err
	}
	if err := loadZIPs("data/zip3-state.csv", 3, idx, r.zip3[:]); err != nil {
		return nil, err
	}
	return r, nil
}

// loadZIPs fills table from a "zip,state" file. Rows for places that are
// not one of the 51 (PR, GU, military APO/FPO codes, ...) stay unknown:
// the form serves the states and DC only.
func loadZIPs(name string, digits int, idx map[string]uint8, table []uint8) error {
	raw, err := data.ReadFile(name)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	line := 0
	for sc.Scan() {
		line++
		zip, st, ok := strings.Cut(strings.TrimSpace(sc.Text()), ",")
		if !ok || len(zip) != digits {
			if line == 1 {
				continue // header
			}
			return fmt.Errorf("%s line %d: want %d-digit zip,state", name, line, digits)
		}
		n, err := strconv.Atoi(zip)
		if err != nil {
			if line == 1 {
				continue
			}
			return fmt.Errorf("%s line %d: %q is not a ZIP code", name, line, zip)
		}
		table[n] = idx[st]
	}
	return sc.Err()
}

// State returns a state by its two-letter code (upper case).
func (r *Reference) State(abbr string) (*State, bool) {
	s, ok := r.states[abbr]
	return s, ok
}

// States returns every state in code order.
func (r *Reference) States() []*State { return r.order }

// StateOfZIP returns the state a 5-digit ZIP code (or ZIP+4) belongs to,
// by its own row, falling back to its 3-digit prefix for codes newer than
// the table. ok is false for malformed codes and codes outside the 51.
func (r *Reference) StateOfZIP(zip string) (*State, bool) {
	zip5, ok := ZIP5(zip)
	if !ok {
		return nil, false
	}
	n, _ := strconv.Atoi(zip5)
	i := r.zip5[n]
	if i == 0 {
		i = r.zip3[n/100]
	}
	if i == 0 {
		return nil, false
	}
	return r.order[i-1], true
}

// ZIP5 returns the 5-digit part of "zzzzz" or "zzzzz-zzzz".
func ZIP5(zip string) (string, bool) {
	switch {
	case len(zip) == 5 && digits(zip):
		return zip, true
	case len(zip) == 10 && zip[5] == '-' && digits(zip[:5]) && digits(zip[6:]):
		return zip[:5], true
	}
	return "", false
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// GRegistrationStates are the states whose own online registration site a
// registrant can be sent to (those with an online_registration_url).
func (r *Reference) GRegistrationStates() []*State {
	var out []*State
	for _, s := range r.order {
		if s.OnlineRegistrationURL != nil && *s.OnlineRegistrationURL != "" {
			out = append(out, s)
		}
	}
	return out
}
