package fileload

import (
	"strings"
	"testing"

	"github.com/turnoutdev/turnout/storage"
)

// A staged or COPY'd AV/EV row's k-th field is avevColumns[k]'s cell,
// stored in storage.AVEVColumns[k]: the two lists keep the same order,
// and each column's cast fits its check.
func TestAVEVColumnsMatchStorage(t *testing.T) {
	if len(avevColumns) != len(storage.AVEVColumns) {
		t.Fatalf("%d AV/EV file columns, %d van_avev columns", len(avevColumns), len(storage.AVEVColumns))
	}
	for k, c := range avevColumns {
		s := storage.AVEVColumns[k]
		if strings.ToLower(c.name) != strings.ReplaceAll(strings.TrimSuffix(s.Name, "_id"), "_", "") {
			t.Errorf("column %d: %s is stored in %s", k, c.name, s.Name)
		}
		want := ""
		switch c.kind {
		case avevDate:
			want = "date"
		case avevCode:
			want = "integer"
		}
		if s.Cast != want {
			t.Errorf("column %d (%s): cast %q, want %q", k, c.name, s.Cast, want)
		}
	}
}
