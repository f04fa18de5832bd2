package van_test

import (
	"fmt"
	"testing"

	"github.com/turnoutdev/turnout/jobs/notify"
)

// A listener that fails is retried with backoff; every retry carries the
// same webhook-id and a valid signature, and each attempt is on the job.
func TestWebhookIsRetriedWithTheSameID(t *testing.T) {
	s := newStack(t, options{allow: loopback, hookCodes: []int{500, 503}})
	s.people(2, 0)
	a, b := s.rangeScore("A", 0, 100), s.rangeScore("B", 0, 100)
	u := s.serve("/h.zip", zipOf(t, "haberdashery.csv", exampleCSV(2)))
	id := s.submit(exampleRequest(u, a, b, fmt.Sprintf(`[{"type": "URL", "value": %q}]`, s.hooks.URL+"/hook")))
	hooks := s.waitHooks(3)
	for i, h := range hooks {
		if h.ID != notify.WebhookID(id, 0) || h.Verified != nil {
			t.Errorf("delivery %d: id %q verified %v", i, h.ID, h.Verified)
		}
	}
	v := s.wait(id)
	for range 100 {
		if len(v.Deliveries) == 3 {
			break
		}
		v = s.wait(id)
	}
	if len(v.Deliveries) != 3 || v.Deliveries[0].OK || v.Deliveries[1].OK || !v.Deliveries[2].OK ||
		*v.Deliveries[0].StatusCode != 500 || *v.Deliveries[2].StatusCode != 200 {
		t.Errorf("deliveries %+v, want 500, 503, 200", v.Deliveries)
	}
}
