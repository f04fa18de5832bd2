// Package testkit holds what tests of every package share; its
// subpackages are the test services (testenv: PostgreSQL and Redis per
// package; teststack: the API and a worker; apitest: OpenAPI-checked HTTP
// calls; testftp, testsftp, testpty).
package testkit

import (
	"fmt"
	"testing"
	"time"
)

// Eventually checks cond every 10ms until it holds and fails the test,
// saying what it waited for, if it does not hold within timeout. Tests
// that prove something did not happen wait this way for the event that
// comes after it (a queue drained, a later job finished), never for a
// fixed time.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s, still waiting for: %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
