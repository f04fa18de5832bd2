package registration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/internal/fault"
)

// FuzzValidate mutates one field of a valid registration at a time: the
// validator accepts it or names a field in the registrant's language, never
// panics, and never echoes the ID number in a message.
func FuzzValidate(f *testing.F) {
	for _, seed := range [][2]string{
		{"date_of_birth", `"02-30-1990"`}, {"home_zip_code", `"1234"`}, {"party", `"Green"`},
		{"id_number", `"12"`}, {"lang", `"fr"`}, {"email_address", `"a@b@c"`}, {"race", `null`},
		{"created_at", `"13132026 25:61:61"`}, {"has_mailing_address", `"yes"`}, {"survey_answer_1", `"x"`},
		{"home_state_id", `"NH"`}, {"phone", `"555"`}, {"unknown_field", `1`}, {"name_title", `["Mr."]`},
	} {
		f.Add(seed[0], seed[1], "CA", false)
	}
	v := testValidator(f)
	f.Fuzz(func(t *testing.T, field, raw, state string, greg bool) {
		m := validFields(t, "CA")
		if len(state) == 2 {
			m["home_state_id"] = strings.ToUpper(state)
		}
		in := toInput(t, m)
		in[field] = json.RawMessage(raw)
		mode := ModeRegistration
		if greg {
			mode = ModeGRegistration
		}
		out, err := v.Validate(in, mode)
		if err != nil {
			fe := fault.As(err)
			if fe.Kind != fault.Invalid {
				t.Fatalf("Validate(%s=%s): %v, want an Invalid fault", field, raw, err)
			}
			if strings.Contains(fe.Message, "D1234567") {
				t.Fatalf("error message echoes the ID number: %q", fe.Message)
			}
			return
		}
		if out == nil {
			t.Fatal("no error and no result")
		}
	})
}
