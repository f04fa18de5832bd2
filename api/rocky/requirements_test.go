package rocky_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestStateRequirementsEndpoint(t *testing.T) {
	s := start(t, options{noWorker: true})
	status, m, raw := s.do("GET", "/api/v4/state_requirements.json?lang=es&home_zip_code=19104", "")
	if status != 200 || m["requires_race"] != true || m["requires_party"] != true || m["no_party_msg"] != "Ninguno / Sin afiliación" ||
		!strings.Contains(m["sos_address"].(string), "Harrisburg") || m["id_length_min"] != float64(6) {
		t.Fatalf("PA in Spanish: %d %s", status, raw)
	}
	for q, want := range map[string]map[string]any{
		"lang=en&home_state_id=AJ":                          {"message": "Invalid state ID"},
		"lang=en&home_zip_code=123":                         {"message": "Invalid ZIP code"},
		"lang=en&home_state_id=CA&home_zip_code=10001":      {"message": "ZIP code does not match state"},
		"lang=en&home_state_id=ND":                          {"message": "North Dakota does not accept the national mail-in voter registration form from this service; contact the state's election office"},
		"lang=en&home_state_id=CA&date_of_birth=01-01-2020": {"message": "California lets you pre-register from age 16; you will be added to the voter rolls when you turn 18."},
		"lang=fr&home_state_id=CA":                          {"message": "Unsupported language"},
		"lang=en&home_state_id=CA&zip=1":                    {"field_name": "zip", "message": "Invalid parameter type"},
	} {
		status, _, raw := s.do("GET", "/api/v4/state_requirements.json?"+q, "")
		var got map[string]any
		_ = json.Unmarshal(raw, &got)
		if status != 400 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %d %s, want %v", q, status, raw, want)
		}
	}
}
