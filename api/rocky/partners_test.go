package rocky_test

import (
	"testing"
)

func TestPartners(t *testing.T) {
	s := start(t, options{noWorker: true})
	status, m, raw := s.do("GET", "/api/v4/partners/"+s.partnerID+".json?partner_API_key="+s.partnerKey, "")
	if status != 200 || m["org_name"] != "Vote Club" || m["contact_phone"] != "4155551212" || m["survey_question_1_es"] != "¿Por qué votar?" {
		t.Fatalf("get partner: %d %s", status, raw)
	}
	status, m, _ = s.do("GET", "/api/v4/partners/"+s.partnerID+".json?partner_API_key=trn_wrong", "")
	if status != 400 || m["message"] != "Invalid Partner or API key" {
		t.Fatalf("wrong key: %d %v", status, m)
	}
	// Another partner's key does not open this partner.
	_, otherKey := s.newPartner()
	status, _, _ = s.do("GET", "/api/v4/partners/"+s.partnerID+".json?partner_API_key="+otherKey, "")
	if status != 400 {
		t.Fatalf("another partner's key: %d", status)
	}
	status, m, raw = s.do("GET", "/api/v4/partnerpublicprofiles/"+s.partnerID+".json", "")
	q1, _ := m["survey_question_1"].(map[string]any)
	if status != 200 || m["organization"] != "Vote Club" || m["partner_ask_volunteer"] != true || q1["en"] != "Why vote?" || m["contact_email"] != nil {
		t.Fatalf("public profile: %d %s", status, raw)
	}
	status, m, _ = s.do("POST", "/api/v4/partners.json", partnerJSON(func(p map[string]any) { p["contact_email"] = "bad" }), "X-API-Key", s.adminKey)
	if status != 400 || m["field_name"] != "contact_email" {
		t.Fatalf("bad partner: %d %v", status, m)
	}
	status, m, _ = s.do("POST", "/api/v4/partners.json", partnerJSON(func(p map[string]any) { p["fax"] = "1" }), "X-API-Key", s.adminKey)
	if status != 400 || m["field_name"] != "fax" || m["message"] != "Invalid parameter type" {
		t.Fatalf("unknown partner field: %d %v", status, m)
	}
	status, _, _ = s.do("POST", "/api/v4/partners.json", partnerJSON(nil), "X-API-Key", s.partnerKey)
	if status != 400 {
		t.Fatalf("a partner key created a partner: %d", status)
	}
}

func TestOpenSignup(t *testing.T) {
	s := start(t, options{noWorker: true, openSignup: true})
	status, m, raw := s.do("POST", "/api/v4/partners.json", partnerJSON(nil))
	if status != 200 || m["partner_API_key"] == nil {
		t.Fatalf("open signup: %d %s", status, raw)
	}
}
