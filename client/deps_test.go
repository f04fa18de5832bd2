package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// A program imports the client without the server: the package depends on
// the standard library only, never on internal/, storage, api or jobs.
func TestDependsOnTheStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/turnoutdev/turnout/client" {
			t.Errorf("depends on %s, want the standard library only", p)
		}
	}
}
