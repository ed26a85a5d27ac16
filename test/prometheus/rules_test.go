// Package prometheus checks the shipped alerting rules with promtool and
// evaluates every query of the shipped Grafana dashboard on a real
// Prometheus scraping the operator.
package prometheus

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vaultferry/vaultferry/test/testenv"
)

var rulesFile = filepath.Join(testenv.RepoRoot(), "charts", "vaultferry", "files", "alerts.rules.yaml")

func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool missing: run 'make test-peers' (Debian package prometheus)")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestAlertRulesAreValid(t *testing.T) {
	out := promtool(t, "check", "rules", rulesFile)
	if !strings.Contains(out, "SUCCESS: 13 rules found") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
}

// alerts_test.yaml has, for every alert, a case where it fires and one where it does not.
func TestAlertRulesFireWhenTheyShould(t *testing.T) {
	out := promtool(t, "test", "rules", "alerts_test.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// Every alert in the rules file has a unit test in which it fires and one in which it does not.
func TestEveryAlertIsUnitTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
			} `json:"rules"`
		} `json:"groups"`
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, rulesFile, &rules)
	readYAML(t, "alerts_test.yaml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if !fires[r.Alert] {
				t.Errorf("alert %s has no unit test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s has no unit test where it stays quiet", r.Alert)
			}
		}
	}
}

// alertRules are the shipped alerts, by name.
func alertRules(t *testing.T) map[string]alertRule {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	readYAML(t, rulesFile, &rules)
	out := map[string]alertRule{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r
		}
	}
	return out
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	Annotations map[string]string `json:"annotations"`
}

// Every alert links its runbook (runbook_url, the name Alertmanager
// integrations and Grafana show), to a section of docs/runbooks.md that
// exists.
func TestEveryAlertHasARunbook(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	const base = "https://github.com/vaultferry/vaultferry/blob/main/docs/runbooks.md#"
	for name, r := range alertRules(t) {
		url := r.Annotations["runbook_url"]
		if url != base+strings.ToLower(name) {
			t.Errorf("%s: runbook_url %q, want %s%s", name, url, base, strings.ToLower(name))
		}
		if !strings.Contains(string(doc), "\n## "+name+"\n") {
			t.Errorf("%s: docs/runbooks.md has no section ## %s", name, name)
		}
		if _, old := r.Annotations["runbook"]; old {
			t.Errorf("%s: the annotation is runbook_url, not runbook", name)
		}
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
