package metrics

import "github.com/prometheus/client_golang/prometheus"

// The per-ExternalSecret metrics, made from Metrics.series at scrape time.
var (
	syncsDesc = prometheus.NewDesc("vaultferry_sync_total",
		"ExternalSecret syncs by outcome: Synced, or the failure reason.", []string{"namespace", "name", "result"}, nil)
	readyDesc = prometheus.NewDesc("vaultferry_externalsecret_ready",
		"1 when the ExternalSecret's Ready condition is True, else 0; reason is the condition's reason (one series per ExternalSecret).",
		[]string{"namespace", "name", "reason"}, nil)
	lastSuccessDesc = prometheus.NewDesc("vaultferry_externalsecret_last_sync_timestamp_seconds",
		"Unix time of the last successful sync.", []string{"namespace", "name"}, nil)
	refreshEveryDesc = prometheus.NewDesc("vaultferry_externalsecret_refresh_interval_seconds",
		"The ExternalSecret's refresh interval; 0 means fetch once.", []string{"namespace", "name"}, nil)
	versionsDesc = prometheus.NewDesc("vaultferry_externalsecret_versions",
		"Versions (immutable Secrets) kept for the ExternalSecret, the current one included.", []string{"namespace", "name"}, nil)
	expiryDesc = prometheus.NewDesc("vaultferry_secret_expiry_timestamp_seconds",
		"Unix time at which the earliest source secret expires, where the provider reports one.", []string{"namespace", "name"}, nil)
	rolloutsDesc = prometheus.NewDesc("vaultferry_rollouts_total",
		"Workloads moved to a new version, by workload kind and result (Success, Failed).", []string{"namespace", "name", "kind", "result"}, nil)
)

// externalSecretSeries is the prometheus.Collector of the per-ExternalSecret metrics.
type externalSecretSeries struct{ m *Metrics }

func (externalSecretSeries) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{syncsDesc, readyDesc, lastSuccessDesc, refreshEveryDesc, versionsDesc, expiryDesc, rolloutsDesc} {
		ch <- d
	}
}

func (c externalSecretSeries) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for key, s := range c.m.series {
		emit := func(d *prometheus.Desc, kind prometheus.ValueType, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, kind, v, append([]string{key.namespace, key.name}, labels...)...)
		}
		for _, n := range s.syncs {
			emit(syncsDesc, prometheus.CounterValue, n.count, n.labels[0])
		}
		for _, n := range s.rollouts {
			emit(rolloutsDesc, prometheus.CounterValue, n.count, n.labels[:]...)
		}
		if !s.synced {
			continue
		}
		emit(readyDesc, prometheus.GaugeValue, s.readyValue, s.ready)
		emit(refreshEveryDesc, prometheus.GaugeValue, s.refreshEvery)
		emit(versionsDesc, prometheus.GaugeValue, s.versions)
		if s.lastSuccess != 0 {
			emit(lastSuccessDesc, prometheus.GaugeValue, s.lastSuccess)
		}
		if s.expiry != 0 {
			emit(expiryDesc, prometheus.GaugeValue, s.expiry)
		}
	}
}
