package rocky_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestBulk(t *testing.T) {
	s := start(t, options{noWorker: true})
	auth := fmt.Sprintf(`"partner_id": %q, "partner_API_key": %q`, s.partnerID, s.partnerKey)
	rec := `{"lang": "en", "status": "step_2", "email_address": "b@example.org", "ineligible_age": true, "age": 16, "home_zip_code": "94110", "id_number": "S999"}`
	status, m, raw := s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+rec+`,`+rec+`]}`)
	if status != 200 || m["abandoned_registrations"] != float64(2) {
		t.Fatalf("bulk: %d %s", status, raw)
	}
	status, _, raw = s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+rec+`, {"lang": "en", "favourite": 1}, {"age": "old"}, {"lang": "kl"}]}`)
	var list []map[string]any
	_ = json.Unmarshal(raw, &list)
	if status != 400 || len(list) != 4 || len(list[0]) != 0 || list[1]["type"] != "SyntaxError" || list[1]["field_name"] != "favourite" ||
		list[2]["type"] != "ValidationError" || list[2]["field_name"] != "age" || list[3]["type"] != "UnsupportedLanguageError" {
		t.Fatalf("bulk errors: %d %s", status, raw)
	}
	status, m, raw = s.do("POST", "/api/v4/bulk_gregistrations.json", `{`+auth+`, "bulk_gregistrations": [{"status": "complete", "created_at": "2026-01-10T10:00:00Z", "last_name": "G"}]}`)
	if status != 200 || m["bulk_gregistrations"] != float64(1) {
		t.Fatalf("bulk_gregistrations: %d %s", status, raw)
	}
	var n int
	_ = s.db.QueryRow(context.Background(), `SELECT count(*) FROM rocky_registrants WHERE partner_id = $1::bigint AND kind IN ('bulk', 'bulk_gregistration')`, s.partnerID).Scan(&n)
	if n != 3 {
		t.Fatalf("%d bulk rows stored, want 3 (the rejected batch writes nothing)", n)
	}
	// A partner key's batch size is 1,000 unless set otherwise for the key.
	batch := func(n int) string { return strings.TrimSuffix(strings.Repeat(rec+",", n), ",") }
	status, m, raw = s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+batch(1000)+`]}`)
	if status != 200 || m["registrants_added"] != float64(1000) {
		t.Fatalf("batch of 1,000: %d %.300s", status, raw)
	}
	status, m, _ = s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+batch(1001)+`]}`)
	if status != 429 || !strings.Contains(m["message"].(string), "allowed size of: 1000") {
		t.Fatalf("batch of 1,001: %d %v", status, m)
	}
	var keyID int64
	_ = s.db.QueryRow(context.Background(), `SELECT id FROM api_keys WHERE rocky_partner_id = $1::bigint`, s.partnerID).Scan(&keyID)
	five := 5
	if err := s.store.SetKeyLimits(context.Background(), keyID, nil, &five); err != nil {
		t.Fatal(err)
	}
	status, m, _ = s.do("POST", "/api/v4/registrations/bulk", `{`+auth+`, "registrants": [`+batch(6)+`]}`)
	if status != 429 || !strings.Contains(m["message"].(string), "allowed size of: 5") {
		t.Fatalf("batch of 6 over a key set to 5: %d %v", status, m)
	}
	assertNoIDNumber(t, s, "S999")
}
