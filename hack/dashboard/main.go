// Command dashboard writes the Grafana dashboard shipped with the chart
// (charts/vaultferry/dashboards/vaultferry.json) from typed code, with
// Grafana's foundation SDK. make dashboard runs it; make verify fails when
// the JSON is stale. test/prometheus checks every query on a real Prometheus
// and the model against the SDK's schema types.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Label matchers every query carries: the job and cluster variables keep
// several operators in one Prometheus apart; namespace where the metric has it.
const (
	scope      = `job=~"$job", cluster=~"$cluster"`
	inNS       = scope + `, namespace=~"$namespace"`
	storesInNS = scope + `, namespace=~"$namespace|"` // ClusterSecretStores have no namespace
	// SecretStores are "<namespace>/<name>" in the store label, ClusterSecretStores "<name>".
	storeScope = scope + `, store=~"$store", store=~"($namespace)/.+|[^/]+"`
)

var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend).Datasource(datasource).RefId("A")
}

func tableQuery(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).Instant().Format(prometheus.PromQueryFormatTable).Datasource(datasource).RefId("A")
}

// statPanel is a single number: the last value of its query.
func statPanel(title string, x, w uint32, description string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).GridPos(gridPos(x, 1, w, 4)).Datasource(datasource).Description(description).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

// hideRawColumns drops what Prometheus adds to every table row and an SRE
// does not need: the sample time, the metric name, the scrape target.
// The query's value ("Value") goes too, unless renames names it: then it is
// the column the table is about.
func hideRawColumns(renames map[string]string) dashboard.DataTransformerConfig {
	_, valueShown := renames["Value"]
	return dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
		"excludeByName": map[string]bool{"Time": true, "__name__": true, "instance": true, "job": true, "cluster": true, "Value": !valueShown},
		"renameByName":  renames,
	}}
}

// row starts a section of the dashboard at height y.
func row(title string, y uint32) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title).GridPos(gridPos(0, y, 24, 1))
}

// redFrom is green below limit and red from it.
func redFrom(limit float64) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).
		Steps([]dashboard.Threshold{{Color: "green"}, {Value: cog.ToPtr(limit), Color: "red"}})
}

// tablePanel is a table without a footer.
func tablePanel(title string) *table.PanelBuilder {
	return table.NewPanelBuilder().Title(title).Datasource(datasource).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{}))
}

func gridPos(x, y, w, h uint32) dashboard.GridPos { return dashboard.GridPos{X: x, Y: y, W: w, H: h} }

func variable(name, label, metric, labelName string) *dashboard.QueryVariableBuilder {
	def := fmt.Sprintf("label_values(%s, %s)", metric, labelName)
	return dashboard.NewQueryVariableBuilder(name).Label(label).Datasource(datasource).
		Query(dashboard.StringOrMap{Map: map[string]any{"query": def, "refId": name}}).Definition(def).
		Multi(true).IncludeAll(true).AllValue(".*").Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc)
}

// The classic (v1) dashboard model, which the SDK marks deprecated in favour
// of dashboardv2: v1 is what Grafana 10 to 12 import from a sidecar
// ConfigMap; v2 needs Grafana 12 with its new-layouts feature flag.
//
//nolint:staticcheck // see above
func build() (dashboard.Dashboard, error) {
	d, err := panels().Build()
	for i := range d.Panels {
		if p := d.Panels[i].Panel; p != nil {
			p.Id = cog.ToPtr(uint32(i + 1))
		}
		if r := d.Panels[i].RowPanel; r != nil {
			r.Id = uint32(i + 1)
		}
	}
	return d, err
}

//nolint:staticcheck // the v1 model, see build
func panels() *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder("vaultferry"). //nolint:staticcheck // the v1 model, see build
								Uid("vaultferry").
								Tags([]string{"vaultferry", "secrets", "kubernetes"}).
								Refresh("30s").
								Time("now-6h", "now").
								Timezone(common.TimeZoneBrowser).
								WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
								WithVariable(variable("job", "Job", "vaultferry_externalsecret_ready", "job")).
								WithVariable(variable("cluster", "Cluster", `vaultferry_externalsecret_ready{job=~"$job"}`, "cluster")).
								WithVariable(variable("namespace", "Namespace", `vaultferry_externalsecret_ready{job=~"$job", cluster=~"$cluster"}`, "namespace")).
								WithVariable(variable("store", "Store", `vaultferry_provider_requests_total{job=~"$job", cluster=~"$cluster"}`, "store")).
		// Row 1: the fleet at a glance.
		WithRow(row("Fleet", 0)).
		WithPanel(statPanel("ExternalSecrets ready", 0, 5, "ExternalSecrets whose Ready condition is True.").
			WithTarget(query(`sum(vaultferry_externalsecret_ready{`+inNS+`}) or vector(0)`, "ready"))).
		WithPanel(statPanel("ExternalSecrets not ready", 5, 5, "ExternalSecrets whose Ready condition is False: any is red. The table below says why.").
			Thresholds(redFrom(1)).ColorMode(common.BigValueColorModeBackground).
			WithTarget(query(`count(vaultferry_externalsecret_ready{`+inNS+`} == 0) or vector(0)`, "not ready"))).
		WithPanel(statPanel("Stores not ready", 10, 5, "SecretStores and ClusterSecretStores whose Ready condition is False: any is red.").
			Thresholds(redFrom(1)).ColorMode(common.BigValueColorModeBackground).
			WithTarget(query(`count(vaultferry_secretstore_ready{`+storesInNS+`} == 0) or vector(0)`, "not ready"))).
		WithPanel(statPanel("Sync success ratio", 15, 5, "Syncs that succeeded over the range; 100% when nothing synced in it (nothing failed).").
			Unit("percentunit").Min(0).Max(1).
			Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).
				Steps([]dashboard.Threshold{{Color: "red"}, {Value: cog.ToPtr(0.95), Color: "orange"}, {Value: cog.ToPtr(0.99), Color: "green"}})).
			WithTarget(query(`(sum(rate(vaultferry_sync_total{`+inNS+`, result="Synced"}[$__rate_interval])) or vector(0))`+
				` / (sum(rate(vaultferry_sync_total{`+inNS+`}[$__rate_interval])) > 0) or vector(1)`, "success"))).
		WithPanel(statPanel("Rollouts (range)", 20, 4, "Workloads moved to a new version over the range.").
			WithTarget(query(`sum(increase(vaultferry_rollouts_total{`+inNS+`, result="Success"}[$__range])) or vector(0)`, "rollouts"))).
		// Row 2: sync health over time.
		WithRow(row("Sync health", 5)).
		WithPanel(timeseries.NewPanelBuilder().Title("Sync outcomes").GridPos(gridPos(0, 6, 12, 8)).Datasource(datasource).
			Description("Syncs per second by outcome: Synced, or the failure reason (NotFound: the key does not exist; ProviderError, Unavailable, Forbidden: the vault).").
			Unit("ops").
			WithTarget(query(`sum by (result) (rate(vaultferry_sync_total{`+inNS+`}[$__rate_interval]))`, "{{result}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Sync duration p50 / p99").GridPos(gridPos(12, 6, 12, 8)).Datasource(datasource).
			Description("Time to fetch, render and apply one ExternalSecret (all namespaces: the histogram has no namespace).").
			Unit("s").
			WithTarget(query(`histogram_quantile(0.5, sum by (le) (rate(vaultferry_sync_duration_seconds_bucket{`+scope+`}[$__rate_interval])))`, "p50")).
			WithTarget(query(`histogram_quantile(0.99, sum by (le) (rate(vaultferry_sync_duration_seconds_bucket{`+scope+`}[$__rate_interval])))`, "p99").RefId("B"))).
		// Row 3: what is broken, as tables.
		WithRow(row("What is broken", 14)).
		WithPanel(tablePanel("Failing ExternalSecrets and their reason").GridPos(gridPos(0, 15, 12, 8)).Datasource(datasource).
			Description("ExternalSecrets not Ready, with the reason of their Ready condition. Empty is good.").
			WithTarget(tableQuery(`vaultferry_externalsecret_ready{` + inNS + `} == 0`)).
			WithTransformation(hideRawColumns(map[string]string{"namespace": "Namespace", "name": "ExternalSecret", "reason": "Reason"}))).
		WithPanel(tablePanel("Stores that are not Ready").GridPos(gridPos(12, 15, 12, 8)).Datasource(datasource).
			Description("SecretStores and ClusterSecretStores whose Ready condition is False; `kubectl describe` them for the reason. Empty is good.").
			WithTarget(tableQuery(`vaultferry_secretstore_ready{` + storesInNS + `} == 0`)).
			WithTransformation(hideRawColumns(map[string]string{"kind": "Kind", "namespace": "Namespace", "name": "Store"}))).
		// Row 4: rotation.
		WithRow(row("Rotation", 23)).
		WithPanel(timeseries.NewPanelBuilder().Title("Rollouts by workload kind and result").GridPos(gridPos(0, 24, 8, 8)).Datasource(datasource).
			Description("Workloads moved to new versions; Failed means a workload could not be patched (see the ExternalSecret's events).").
			Unit("ops").
			WithTarget(query(`sum by (kind, result) (rate(vaultferry_rollouts_total{`+inNS+`}[$__rate_interval]))`, "{{kind}} {{result}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Staleness: time since last sync / refresh interval").GridPos(gridPos(8, 24, 8, 8)).Datasource(datasource).
			Description("Above 1: a refresh is late; above 2 for 5 minutes alerts (VaultferrySyncStale).").
			Thresholds(redFrom(2)).
			WithTarget(query(`(time() - vaultferry_externalsecret_last_sync_timestamp_seconds{`+inNS+`}) / (vaultferry_externalsecret_refresh_interval_seconds{`+inNS+`} > 0)`, "{{namespace}}/{{name}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Versions kept per ExternalSecret").GridPos(gridPos(16, 24, 8, 8)).Datasource(datasource).
			Description("Immutable versions kept, the current one included: superseded ones stay while a Pod uses them.").
			WithTarget(query(`vaultferry_externalsecret_versions{`+inNS+`}`, "{{namespace}}/{{name}}"))).
		// Row 5: the vaults.
		WithRow(row("Vaults", 32)).
		WithPanel(timeseries.NewPanelBuilder().Title("Provider requests by store and result").GridPos(gridPos(0, 33, 12, 8)).Datasource(datasource).
			Unit("reqps").
			WithTarget(query(`sum by (store, provider, operation, result) (rate(vaultferry_provider_requests_total{`+storeScope+`}[$__rate_interval]))`,
				"{{store}} {{operation}} {{result}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Provider error ratio by store (NotFound excluded)").GridPos(gridPos(12, 33, 12, 8)).Datasource(datasource).
			Description("Failed calls over all calls: the vault, the network or credentials. Missing keys are a tenant's matter: see the next panel.").
			Unit("percentunit").Thresholds(redFrom(0.1)).
			WithTarget(query(`(sum by (store) (rate(vaultferry_provider_requests_total{`+storeScope+`, result!~"Success|NotFound"}[$__rate_interval]))`+
				` or 0 * sum by (store) (rate(vaultferry_provider_requests_total{`+storeScope+`}[$__rate_interval])))`+
				` / (sum by (store) (rate(vaultferry_provider_requests_total{`+storeScope+`}[$__rate_interval])) > 0)`, "{{store}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Missing remote keys (NotFound) by store").GridPos(gridPos(0, 41, 8, 8)).Datasource(datasource).
			Description("Lookups of keys that do not exist: ExternalSecrets naming them show Ready reason NotFound.").
			Unit("reqps").
			WithTarget(query(`sum by (store) (rate(vaultferry_provider_requests_total{`+storeScope+`, result="NotFound"}[$__rate_interval]))`, "{{store}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Provider latency p99 by store").GridPos(gridPos(8, 41, 8, 8)).Datasource(datasource).
			Unit("s").
			WithTarget(query(`histogram_quantile(0.99, sum by (le, store, operation) (rate(vaultferry_provider_request_duration_seconds_bucket{`+storeScope+`}[$__rate_interval])))`,
				"{{store}} {{operation}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Throttled provider requests by store").GridPos(gridPos(16, 41, 8, 8)).Datasource(datasource).
			Unit("reqps").
			WithTarget(query(`sum by (store) (rate(vaultferry_provider_requests_total{`+storeScope+`, result="Throttled"}[$__rate_interval]))`, "{{store}}"))).
		WithPanel(tablePanel("Upcoming secret expiries").GridPos(gridPos(0, 49, 24, 8)).Datasource(datasource).Unit("s").
			Description("Sources that report an expiry (AWS rotation, Azure expiry dates, Vault leases), soonest first.").
			WithTarget(tableQuery(`sort(vaultferry_secret_expiry_timestamp_seconds{` + inNS + `} - time())`)).
			WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
				"excludeByName": map[string]bool{"Time": true, "__name__": true, "instance": true, "job": true, "cluster": true},
				"renameByName":  map[string]string{"namespace": "Namespace", "name": "ExternalSecret", "Value": "Expires in"},
			}})).
		// Row 7: fan-out. Cluster-wide objects: not filtered by namespace.
		WithRow(row("ClusterExternalSecrets", 57)).
		WithPanel(timeseries.NewPanelBuilder().Title("ClusterExternalSecret namespaces by state").GridPos(gridPos(0, 58, 12, 8)).Datasource(datasource).
			Description("Namespaces each ClusterExternalSecret selects: provisioned (its ExternalSecret is Ready), not_synced (see that ExternalSecret), failed (not created: see the ClusterExternalSecret's status.failedNamespaces).").
			WithTarget(query(`sum by (name, state) (vaultferry_clusterexternalsecret_namespaces{`+scope+`})`, "{{name}} {{state}}"))).
		WithPanel(tablePanel("ClusterExternalSecrets with failed namespaces").GridPos(gridPos(12, 58, 12, 8)).Datasource(datasource).
			Description("Selected namespaces where the ExternalSecret could not be created (a name conflict, an API error). Empty is good.").
			WithTarget(tableQuery(`vaultferry_clusterexternalsecret_namespaces{` + scope + `, state="failed"} > 0`)).
			WithTransformation(hideRawColumns(map[string]string{"name": "ClusterExternalSecret", "state": "State", "Value": "Namespaces"}))).
		// Row 8: leases of dynamic credentials.
		WithRow(row("Leases of dynamic credentials", 66)).
		WithPanel(timeseries.NewPanelBuilder().Title("Leases held").GridPos(gridPos(0, 67, 8, 8)).Datasource(datasource).
			Description("Leases of dynamic ExternalSecrets: current, and superseded ones kept (and renewed) because Pods or pod templates still use their versions. They are revoked when nothing does.").
			WithTarget(query(`sum by (state) (vaultferry_leases{`+inNS+`})`, "{{state}}"))).
		WithPanel(tablePanel("Time to lease expiry").GridPos(gridPos(8, 67, 8, 8)).Datasource(datasource).Unit("s").
			Description("The earliest lease end of each dynamic ExternalSecret, soonest first; renewals push it out, Vault's max TTL caps it (new credentials are issued before).").
			WithTarget(tableQuery(`sort(vaultferry_lease_expiry_timestamp_seconds{` + inNS + `} - time())`)).
			WithTransformation(hideRawColumns(map[string]string{"namespace": "Namespace", "name": "ExternalSecret", "Value": "Ends in"}))).
		WithPanel(timeseries.NewPanelBuilder().Title("Lease renewal failures").GridPos(gridPos(16, 67, 8, 8)).Datasource(datasource).
			Description("Failed renewals by ExternalSecret; with a lease ending soon they fire VaultferryLeaseExpiresBeforeRenewal.").
			Unit("ops").
			WithTarget(query(`sum by (namespace, name) (rate(vaultferry_lease_renewals_total{`+inNS+`, result="Failed"}[$__rate_interval]))`, "{{namespace}}/{{name}}"))).
		// Row 9: the operator itself (controller-runtime's and Go's metrics).
		WithRow(row("Operator", 75)).
		WithPanel(timeseries.NewPanelBuilder().Title("Work queue depth by controller").GridPos(gridPos(0, 76, 6, 8)).Datasource(datasource).
			Description("Objects waiting to be reconciled. A cold start or a refresh wave fills it; a queue that never drains needs more --concurrency or a calmer vault.").
			WithTarget(query(`sum by (name) (workqueue_depth{`+scope+`})`, "{{name}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Reconcile errors by controller").GridPos(gridPos(6, 76, 6, 8)).Datasource(datasource).
			Description("Failed reconciles per second, each retried with backoff; sustained, they fire VaultferryReconcileErrors. The objects' Ready conditions say why.").
			Unit("ops").
			WithTarget(query(`sum by (controller) (rate(controller_runtime_reconcile_errors_total{`+scope+`}[$__rate_interval]))`, "{{controller}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Operator memory by replica").GridPos(gridPos(12, 76, 6, 8)).Datasource(datasource).
			Description("Resident memory of each operator process.").
			Unit("bytes").
			WithTarget(query(`process_resident_memory_bytes{`+scope+`}`, "{{instance}}"))).
		WithPanel(timeseries.NewPanelBuilder().Title("Leader by replica").GridPos(gridPos(18, 76, 6, 8)).Datasource(datasource).
			Description("1 for the replica that holds the leader lease and reconciles, 0 for those waiting. No 1 for 5 minutes fires VaultferryNoLeader.").
			Min(0).Max(1).
			WithTarget(query(`max by (instance) (leader_election_master_status{`+scope+`, name="vaultferry.io"})`, "{{instance}}")))
}

func main() {
	out := "charts/vaultferry/dashboards/vaultferry.json"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	d, err := build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the dashboard:", err)
		os.Exit(1)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
