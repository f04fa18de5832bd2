// Package migrations holds Turnout's schema as goose SQL migrations, embedded
// so every binary carries the schema it was built for. They are the only way
// the schema changes; each is small and reversible.
package migrations

import "embed"

// FS holds the *.sql migrations in goose's numbered order.
//
//go:embed *.sql
var FS embed.FS
