package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// family is one per-ExternalSecret metric: labels namespace and name, then
// its own.
type family struct {
	name, help string
	kind       prometheus.ValueType
	labels     []string
	desc       *prometheus.Desc
	// sorted is every label name in the order client_golang writes them
	// (by name), for the text writer.
	sorted []string
}

func newFamily(name, help string, kind prometheus.ValueType, labels ...string) *family {
	all := append([]string{"namespace", "name"}, labels...)
	return &family{name: name, help: help, kind: kind, labels: labels, desc: prometheus.NewDesc(name, help, all, nil),
		sorted: slices.Sorted(slices.Values(all))}
}

var (
	syncsFamily = newFamily("vaultferry_sync_total",
		"ExternalSecret syncs by outcome: Synced, or the failure reason.", prometheus.CounterValue, "result")
	readyFamily = newFamily("vaultferry_externalsecret_ready",
		"1 when the ExternalSecret's Ready condition is True, else 0; reason is the condition's reason (one series per ExternalSecret).",
		prometheus.GaugeValue, "reason")
	lastSuccessFamily = newFamily("vaultferry_externalsecret_last_sync_timestamp_seconds",
		"Unix time of the last successful sync.", prometheus.GaugeValue)
	refreshEveryFamily = newFamily("vaultferry_externalsecret_refresh_interval_seconds",
		"The ExternalSecret's refresh interval; 0 means fetch once.", prometheus.GaugeValue)
	versionsFamily = newFamily("vaultferry_externalsecret_versions",
		"Versions (immutable Secrets) kept for the ExternalSecret, the current one included.", prometheus.GaugeValue)
	expiryFamily = newFamily("vaultferry_secret_expiry_timestamp_seconds",
		"Unix time at which the earliest source secret expires, where the provider reports one.", prometheus.GaugeValue)
	rolloutsFamily = newFamily("vaultferry_rollouts_total",
		"Workloads moved to a new version, by workload kind and result (Success, Failed).", prometheus.CounterValue, "kind", "result")

	objectFamilies = []*family{syncsFamily, readyFamily, lastSuccessFamily, refreshEveryFamily, versionsFamily, expiryFamily, rolloutsFamily}
)

// each calls emit with the value and own label values (the first
// len(f.labels) of labels) of every series of family f this record has.
func (s *objectSeries) each(f *family, emit func(value float64, labels [2]string)) {
	switch f {
	case syncsFamily:
		for _, n := range s.syncs {
			emit(n.count, n.labels)
		}
	case rolloutsFamily:
		for _, n := range s.rollouts {
			emit(n.count, n.labels)
		}
	}
	if !s.synced {
		return
	}
	switch f {
	case readyFamily:
		emit(s.readyValue, [2]string{s.ready})
	case refreshEveryFamily:
		emit(s.refreshEvery, [2]string{})
	case versionsFamily:
		emit(s.versions, [2]string{})
	case lastSuccessFamily:
		if s.lastSuccess != 0 {
			emit(s.lastSuccess, [2]string{})
		}
	case expiryFamily:
		if s.expiry != 0 {
			emit(s.expiry, [2]string{})
		}
	}
}

// externalSecretSeries collects the per-ExternalSecret series the usual
// way, for a registry that gathers them (tests, embedders); the operator's
// endpoint writes them as text instead (Metrics.Exposition).
type externalSecretSeries struct{ m *Metrics }

func (externalSecretSeries) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range objectFamilies {
		ch <- f.desc
	}
}

func (c externalSecretSeries) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for key, s := range c.m.series {
		for _, f := range objectFamilies {
			s.each(f, func(value float64, labels [2]string) {
				ch <- prometheus.MustNewConstMetric(f.desc, f.kind, value, append([]string{key.namespace, key.name}, labels[:len(f.labels)]...)...)
			})
		}
	}
}
