package webhook

import (
	"os/exec"
	"strings"
	"testing"
)

// A receiver imports this package without the server: it depends on the
// standard library only.
func TestDependsOnTheStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/turnoutdev/turnout/webhook" {
			t.Errorf("depends on %s, want the standard library only", p)
		}
	}
}
