package prometheus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

var dashboardFile = filepath.Join(testenv.RepoRoot(), "charts", "vaultferry", "dashboards", "vaultferry.json")

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		Targets []struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		} `json:"targets"`
		Transformations []struct {
			ID      string `json:"id"`
			Options struct {
				ExcludeByName map[string]bool   `json:"excludeByName"`
				RenameByName  map[string]string `json:"renameByName"`
			} `json:"options"`
		} `json:"transformations"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	return d
}

// The dashboard's structure: what Grafana needs to import it and what an SRE
// needs to point it at their Prometheus.
func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard needs a uid and a title")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	for name, typ := range map[string]string{"datasource": "datasource", "job": "query", "cluster": "query", "namespace": "query", "store": "query"} {
		if vars[name] != typ {
			t.Errorf("template variable %s: type %q, want %q", name, vars[name], typ)
		}
	}
	ids := map[int]bool{}
	rows := 0
	for _, p := range d.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel id %d used twice or missing (%q)", p.ID, p.Title)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			rows++
			if p.Title == "" || p.GridPos.W != 24 || p.GridPos.H != 1 {
				t.Errorf("row %q: a title and a full-width gridPos, got %+v", p.Title, p.GridPos)
			}
			continue
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, `job=~"$job"`) || !strings.Contains(tg.Expr, `cluster=~"$cluster"`) {
				t.Errorf("panel %q: query %s ignores the job or cluster variable", p.Title, tg.Expr)
			}
		}
		for _, tr := range p.Transformations {
			if renamed, ok := tr.Options.RenameByName["Value"]; ok && tr.Options.ExcludeByName["Value"] {
				t.Errorf("panel %q hides its own value column (renamed %q)", p.Title, renamed)
			}
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q has a bad gridPos %+v", p.Title, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" {
				t.Errorf("panel %q has a target without expr or refId", p.Title)
			}
		}
	}
	if rows < 5 {
		t.Errorf("%d rows: the panels should be grouped in rows", rows)
	}
}

// mayBeEmpty lists the panels that have no data when nothing is failing,
// throttled or expiring, as in this test.
var mayBeEmpty = map[string]bool{
	"Throttled provider requests by store":          true,
	"Upcoming secret expiries":                      true,
	"Rollouts by workload kind and result":          true,
	"Stores that are not Ready":                     true,
	"ClusterExternalSecrets with failed namespaces": true,
	// the samples have no dynamic credentials (TestDynamicDatabaseCredentials exercises them)
	"Leases held":            true,
	"Time to lease expiry":   true,
	"Lease renewal failures": true,
	// no calls through any store in the window (reads are cached): no ratio
	"Provider error ratio by store (NotFound excluded)": true,
}

// allValues is what Grafana sends for a variable set to All.
var allValues = strings.NewReplacer("$namespace", ".*", "$store", ".*", "$job", ".*", "$cluster", ".*", "$__rate_interval", "1m", "$__range", "5m")

// A real Prometheus scrapes the operator binary, running against envtest with
// the samples synced and one ExternalSecret failing; every dashboard query
// must parse and, unless listed above, return data.
func TestDashboardQueriesOnRealPrometheus(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	if _, err := env.Kubectl(ctx, "create", "namespace", operator.Namespace); err != nil {
		t.Fatal(err)
	}
	bin, err := operator.BuildBinary(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proc, err := operator.StartBinary(ctx, bin, env.Kubeconfig, nil, "--leader-elect")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")
	env.MustKubectl(t, "apply", "-k", samples)
	failing := `{"apiVersion":"vaultferry.io/v1alpha1","kind":"ExternalSecret","metadata":{"name":"missing","namespace":"payments"},
"spec":{"secretStoreRef":{"name":"payments-vault"},"data":[{"secretKey":"x","remoteRef":{"key":"payments/absent"}}]}}`
	failingFile := filepath.Join(t.TempDir(), "failing.json")
	if err := os.WriteFile(failingFile, []byte(failing), 0o600); err != nil {
		t.Fatal(err)
	}
	env.MustKubectl(t, "apply", "-f", failingFile)
	env.MustKubectl(t, "wait", "--for=condition=Ready", "-n", "payments", "externalsecret/db-credentials", "--timeout=60s")

	prom := startPrometheus(t, strings.TrimPrefix(strings.TrimSuffix(proc.MetricsURL, "/metrics"), "http://"))
	// Enough scrapes for rate() over 1m to have two samples of every series.
	waitForQuery(t, prom, `count_over_time(vaultferry_externalsecret_ready{name="missing"}[1m]) >= 3`)

	d := loadDashboard(t)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		metric, label := parseLabelValues(t, v.Definition)
		if vals := labelValues(t, prom, allValues.Replace(metric), label); len(vals) == 0 && v.Name != "cluster" { // no cluster label here
			t.Errorf("variable %s (%s) has no values", v.Name, v.Definition)
		}
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			expr := allValues.Replace(tg.Expr)
			n, err := query(prom, expr)
			if err != nil {
				t.Errorf("panel %q: query %s: %v", p.Title, expr, err)
				continue
			}
			if n == 0 && !mayBeEmpty[p.Title] {
				t.Errorf("panel %q: query %s returned no data", p.Title, expr)
			}
		}
	}

	assertEveryMetricDocumented(t, prom)

	// The operator-health alerts, their shipped expressions, on this
	// Prometheus: quiet while the operator is scraped and leads, and
	// "operator down" once it is gone.
	rules := alertRules(t)
	down, noLeader := rules["VaultferryOperatorDown"].Expr, rules["VaultferryNoLeader"].Expr
	waitForQuery(t, prom, `max(leader_election_master_status{name="vaultferry.io"}) == 1`)
	for _, expr := range []string{down, noLeader} {
		if n, err := query(prom, expr); err != nil || n != 0 {
			t.Errorf("%s with the operator up and leading: %d series, %v; want none", expr, n, err)
		}
	}
	defer func() {
		proc.Stop()
		waitForQuery(t, prom, down)
	}()

	// Where nothing synced (a namespace without ExternalSecrets), the
	// success ratio is 100%, not NaN or "No data".
	for _, p := range d.Panels {
		if p.Title != "Sync success ratio" {
			continue
		}
		expr := strings.NewReplacer(`namespace=~"$namespace"`, `namespace=~"no-such-namespace"`).Replace(p.Targets[0].Expr)
		if v, err := queryValue(prom, allValues.Replace(expr)); err != nil || v != "1" {
			t.Errorf("success ratio without syncs = %q, %v; want 1", v, err)
		}
	}
}

// assertEveryMetricDocumented checks that every metric the operator serves
// (as this Prometheus scraped it) is in the README's metrics table, by name
// or by a family prefix listed there.
func assertEveryMetricDocumented(t *testing.T, prom string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "## Metrics, dashboard and alerts"); i >= 0 {
		section = section[i:]
	}
	if i := strings.Index(section, "\n\n"); i >= 0 {
		section = section[:strings.Index(section[i+2:], "\n\n")+i+2]
	}
	names := labelValues(t, prom, `{job="vaultferry"}`, "__name__")
	if len(names) < 20 {
		t.Fatalf("only %d metric names scraped", len(names))
	}
	for _, name := range names {
		if name == "up" || strings.HasPrefix(name, "scrape_") { // Prometheus's own, per target
			continue
		}
		documented := strings.Contains(section, "`"+name+"`")
		for _, prefix := range []string{"controller_runtime_", "workqueue_", "rest_client_", "leader_election_", "certwatcher_", "go_", "process_"} {
			documented = documented || strings.HasPrefix(name, prefix) && strings.Contains(section, "`"+prefix+"*`")
		}
		if name == "leader_election_master_status" {
			documented = strings.Contains(section, "`leader_election_master_status`")
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			documented = documented || strings.HasSuffix(name, suffix) && strings.Contains(section, "`"+strings.TrimSuffix(name, suffix)+"`")
		}
		if !documented {
			t.Errorf("metric %s is served but not in the README's metrics table", name)
		}
	}
}

// queryValue runs an instant query with one result and returns its value.
func queryValue(prom, expr string) (string, error) {
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	if len(body.Data.Result) != 1 {
		return "", fmt.Errorf("%d results", len(body.Data.Result))
	}
	return fmt.Sprint(body.Data.Result[0].Value[1]), nil
}

func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus missing: run 'make test-peers' (Debian package prometheus)")
	}
	dir := t.TempDir()
	config := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: vaultferry\n    static_configs: [{targets: [%q]}]\n", target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logs := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(operator.Timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("prometheus not ready:\n%s", logs.String())
	return ""
}

// query runs an instant query and returns the number of series in its result.
func query(prom, expr string) (int, error) {
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("%s", body.Error)
	}
	return len(body.Data.Result), nil
}

func waitForQuery(t *testing.T, prom, expr string) {
	t.Helper()
	deadline := time.Now().Add(2 * operator.Timeout)
	for time.Now().Before(deadline) {
		if n, err := query(prom, expr); err == nil && n > 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("prometheus never answered %s", expr)
}

func labelValues(t *testing.T, prom, metric, label string) []string {
	t.Helper()
	resp, err := http.Get(prom + "/api/v1/label/" + label + "/values?match[]=" + url.QueryEscape(metric))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Data []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Data
}

// parseLabelValues reads Grafana's label_values(metric, label).
func parseLabelValues(t *testing.T, def string) (metric, label string) {
	t.Helper()
	inner, ok := strings.CutPrefix(def, "label_values(")
	if !ok {
		t.Fatalf("variable query %q is not label_values(metric, label)", def)
	}
	inner = strings.TrimSuffix(inner, ")")
	comma := strings.LastIndex(inner, ",")
	if comma < 0 {
		t.Fatalf("variable query %q is not label_values(metric, label)", def)
	}
	return strings.TrimSpace(inner[:comma]), strings.TrimSpace(inner[comma+1:])
}

// The shipped JSON is the model of Grafana's published dashboard schema, as
// the foundation SDK's generated types carry it: strict decoding knows every
// field, and the model validates.
func TestDashboardMatchesGrafanaSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	d := &grafana.Dashboard{} //nolint:staticcheck // the v1 model Grafana imports from ConfigMaps (hack/dashboard)
	if err := schemaError(d.UnmarshalJSONStrict(raw)); err != nil {
		t.Fatalf("the dashboard does not decode strictly into Grafana's schema: %v", err)
	}
	if err := schemaError(d.Validate()); err != nil {
		t.Fatalf("the dashboard does not validate against Grafana's schema: %v", err)
	}
	if len(d.Panels) < 18 {
		t.Errorf("decoded %d panels", len(d.Panels))
	}
	// The check can fail: a field the schema does not have is refused.
	bad := strings.Replace(string(raw), `"uid": "vaultferry"`, `"uid": "vaultferry", "panelz": []`, 1)
	unknown := &grafana.Dashboard{} //nolint:staticcheck // as above
	if schemaError(unknown.UnmarshalJSONStrict([]byte(bad))) == nil {
		t.Error("strict decoding accepted an unknown field")
	}
}

// schemaError is err unless it is an empty cog.BuildErrors (the SDK returns
// a typed nil slice as a non-nil error).
func schemaError(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}
