// Package deploy holds no code: its tests check the deployment files
// (Prometheus alerts, the Grafana dashboard) against the metrics Turnout
// exports.
package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// exported reads the names of the metrics Turnout registers from the
// source of the packages that register them.
func exported(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range []string{"../api/ops/metrics.go", "../worker/worker.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"(turnout_[a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1])
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %v registered metrics; the source moved?", names)
	}
	return names
}

// referenced returns every turnout_* metric named in text, histogram
// suffixes removed.
func referenced(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`turnout_[a-z_]*[a-z]`).FindAllString(text, -1) {
		for _, suf := range []string{"_bucket", "_count", "_sum"} {
			if s, ok := strings.CutSuffix(m, suf); ok && strings.HasSuffix(s, "_seconds") {
				m = s
			}
		}
		out = append(out, m)
	}
	return out
}

func TestAlertsAndDashboardUseOnlyExportedMetrics(t *testing.T) {
	have := exported(t)
	alerts, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile("grafana/turnout-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for where, text := range map[string]string{"alerts.yaml": string(alerts), "dashboard": strings.Join(exprs, "\n")} {
		refs := referenced(text)
		if len(refs) == 0 {
			t.Errorf("%s names no Turnout metric", where)
		}
		for _, m := range refs {
			if !slices.Contains(have, m) {
				t.Errorf("%s uses %s, which Turnout does not export", where, m)
			}
		}
	}
}

// promtool (Debian's prometheus package) checks the rules' syntax and runs
// their unit tests; where it is not installed the test says so and skips.
func TestAlertRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "prometheus/alerts.yaml"}, {"test", "rules", "prometheus/alerts_test.yaml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
