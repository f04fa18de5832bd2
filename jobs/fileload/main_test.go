package fileload

import (
	"testing"

	"github.com/turnoutdev/turnout/internal/testkit/testenv"
)

// The row-rule fuzzers read the seeded code lists from a real database.
func TestMain(m *testing.M) { testenv.Main(m) }
