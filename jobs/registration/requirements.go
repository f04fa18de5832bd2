package registration

import (
	"strings"
	"time"

	"github.com/turnoutdev/turnout/internal/fault"
)

// RequirementsQuery is the input of state_requirements.
type RequirementsQuery struct {
	Lang        string
	HomeStateID string
	HomeZIPCode string
	DateOfBirth string
	// PreRegistration applies the state's pre-registration rule to the
	// age check instead of 18 (Validator.PreRegistration).
	PreRegistration bool
}

// Requirements is the answer of state_requirements: the state's rules and
// the texts that explain them, in the query's language.
type Requirements struct {
	RequiresRace     bool     `json:"requires_race"`
	RequiresRaceMsg  string   `json:"requires_race_msg"`
	RequiresParty    bool     `json:"requires_party"`
	RequiresPartyMsg string   `json:"requires_party_msg"`
	NoParty          bool     `json:"no_party"`
	NoPartyMsg       string   `json:"no_party_msg"`
	PartyList        []string `json:"party_list"`
	IDLengthMin      int      `json:"id_length_min"`
	IDLengthMax      int      `json:"id_length_max"`
	IDNumberMsg      string   `json:"id_number_msg"`
	SOSAddress       string   `json:"sos_address"`
	SOSPhone         string   `json:"sos_phone"`
	SOSURL           string   `json:"sos_url"`
	Sub18Msg         string   `json:"sub_18_msg"`
}

// StateRequirements checks eligibility by location (and age, when a date
// of birth is given) and returns the state's rules. Errors are
// message-only fault.Invalid values (invalid state ID, invalid ZIP,
// ZIP not in state, non-participating state, invalid age, unsupported
// language).
func (r *Reference) StateRequirements(q RequirementsQuery, now time.Time) (*Requirements, error) {
	lang := NormalizeLanguage(q.Lang)
	if lang == "" {
		return nil, fault.Validation(fault.FieldError{Field: "lang", Code: fault.CodeRequired, Message: msgRequired.in("en")})
	}
	if !SupportedLanguage(lang) {
		return nil, fault.New(fault.Invalid, "%s", UnsupportedLanguage)
	}
	invalid := func(m msg) error { return fault.New(fault.Invalid, "%s", m.in(lang)) }
	var state *State
	if id := strings.ToUpper(strings.TrimSpace(q.HomeStateID)); id != "" {
		s, ok := r.State(id)
		if !ok {
			return nil, invalid(msgInvalidStateID)
		}
		state = s
	}
	if z := strings.TrimSpace(q.HomeZIPCode); z != "" {
		zs, ok := r.StateOfZIP(z)
		if !ok {
			return nil, invalid(msgInvalidZIP)
		}
		if state != nil && zs != state {
			return nil, invalid(msgZIPNotInState)
		}
		state = zs
	}
	if state == nil {
		return nil, invalid(msgNoStateOrZIP)
	}
	if !state.Participating {
		return nil, fault.New(fault.Invalid, "%s", state.NotParticipatingMsg(lang))
	}
	if d := strings.TrimSpace(q.DateOfBirth); d != "" {
		dob, ok := ParseDate(d)
		if !ok {
			return nil, fault.New(fault.Invalid, "%s", msgDate.in(lang))
		}
		if Age(dob, now) < 18 && !(q.PreRegistration && MayRegister(state, dob, now)) {
			return nil, fault.New(fault.Invalid, "%s", state.Sub18Msg(lang))
		}
	}
	lo, hi := state.IDBounds()
	return &Requirements{
		RequiresRace:     state.RequiresRace,
		RequiresRaceMsg:  state.RequiresRaceMsg(lang),
		RequiresParty:    state.RequiresParty,
		RequiresPartyMsg: state.RequiresPartyMsg(lang),
		NoParty:          state.NoParty != "" && state.NoParty != "blank",
		NoPartyMsg:       PartyName(state.NoParty, lang),
		PartyList:        state.PartyList(lang),
		IDLengthMin:      lo,
		IDLengthMax:      hi,
		IDNumberMsg:      state.IDNumberMsg(lang),
		SOSAddress:       strings.Join(state.SOSAddressLines, "\n"),
		SOSPhone:         state.SOSPhone,
		SOSURL:           state.SOSURL,
		Sub18Msg:         state.Sub18Msg(lang),
	}, nil
}
