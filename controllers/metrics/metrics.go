// Package metrics exports sync health as Prometheus metrics (prefix
// vaultferry_). Labels carry names, reasons and classes only, never values.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
)

// Metrics implements the recorders of the reconcilers and the provider
// client cache's Observer.
type Metrics struct {
	syncDuration  *prometheus.HistogramVec
	storeReady    *prometheus.GaugeVec
	requests      *prometheus.CounterVec
	requestLength *prometheus.HistogramVec
	fanOut        *prometheus.GaugeVec
	leases        *prometheus.GaugeVec
	leaseExpiry   *prometheus.GaugeVec
	renewals      *prometheus.CounterVec

	// series holds the values of every ExternalSecret's own series
	// (vaultferry_sync_total, _externalsecret_ready, ...), which
	// externalSecretSeries turns into metrics at scrape time. Five metric
	// vectors kept a labelled child each per ExternalSecret instead, a fifth
	// of the operator's live heap; a change of reason or a deletion now
	// touches one map entry.
	mu     sync.Mutex
	series map[objectKey]*objectSeries
	// served: the registry does not collect the series; Exposition
	// writes them.
	served bool
}

type objectKey struct{ namespace, name string }

// objectSeries are the values of one ExternalSecret's series.
type objectSeries struct {
	// synced: ObserveSync ran, so the ready, refresh interval and
	// versions series exist. ready is the reason label of the one ready
	// series, readyValue its value.
	synced                             bool
	ready                              string
	readyValue, refreshEvery, versions float64
	lastSuccess                        float64         // 0: no sync succeeded yet (no series)
	expiry                             float64         // 0: no source reports an expiry (no series)
	syncs                              []labelledCount // by result
	rollouts                           []labelledCount // by kind and result
}

// labelledCount is a counter of a few label values.
type labelledCount struct {
	labels [2]string
	count  float64
}

func increment(counts []labelledCount, labels [2]string) []labelledCount {
	for i := range counts {
		if counts[i].labels == labels {
			counts[i].count++
			return counts
		}
	}
	return append(counts, labelledCount{labels: labels, count: 1})
}

// seriesOf returns the record of an ExternalSecret's series; m.mu is held.
func (m *Metrics) seriesOf(namespace, name string) *objectSeries {
	key := objectKey{namespace, name}
	s := m.series[key]
	if s == nil {
		s = &objectSeries{}
		m.series[key] = s
	}
	return s
}

// New creates the metrics and registers them all with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(append(m.vectors(), externalSecretSeries{m})...)
	return m
}

// NewServed creates the metrics for the operator's endpoint: it registers
// them with reg (controller-runtime's metrics.Registry), except the
// per-ExternalSecret series, which m.Exposition writes into the scrape.
func NewServed(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	m.served = true
	reg.MustRegister(m.vectors()...)
	return m
}

func (m *Metrics) vectors() []prometheus.Collector {
	return []prometheus.Collector{m.leases, m.leaseExpiry, m.renewals, m.fanOut, m.syncDuration, m.storeReady, m.requests, m.requestLength}
}

func newMetrics() *Metrics {
	object := []string{"namespace", "name"}
	m := &Metrics{
		series: map[objectKey]*objectSeries{},
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vaultferry_sync_duration_seconds", Help: "Time to fetch, render and apply one ExternalSecret.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"result"}),
		storeReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaultferry_secretstore_ready", Help: "1 when the store's Ready condition is True, else 0.",
		}, []string{"kind", "namespace", "name"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaultferry_provider_requests_total", Help: "Calls to secret backends by store, provider, operation and result class (Success, NotFound, Forbidden, Throttled, Unavailable, Invalid, Error).",
		}, []string{"store_kind", "store", "provider", "operation", "result"}),
		requestLength: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vaultferry_provider_request_duration_seconds", Help: "Latency of calls to secret backends.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"store_kind", "store", "provider", "operation"}),
	}
	m.fanOut = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vaultferry_clusterexternalsecret_namespaces",
		Help: "Namespaces selected by a ClusterExternalSecret, by state: provisioned (its ExternalSecret exists and is Ready), not_synced (exists, not Ready), failed (could not be created).",
	}, []string{"name", "state"})
	m.leases = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vaultferry_leases",
		Help: "Leases of a dynamic ExternalSecret's versions held by the operator, by state: current, or superseded (kept, and renewed, because a Pod or pod template still uses the version).",
	}, []string{"namespace", "name", "state"})
	m.leaseExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vaultferry_lease_expiry_timestamp_seconds", Help: "Unix time at which the earliest held lease of a dynamic ExternalSecret ends unless renewed.",
	}, object)
	m.renewals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaultferry_lease_renewals_total", Help: "Lease renewals of dynamic ExternalSecrets by result (Success, Failed).",
	}, []string{"namespace", "name", "result"})
	return m
}

// ObserveSync records one sync of es; reason is SyncedReason on success.
func (m *Metrics) ObserveSync(es *vfv1alpha1.ExternalSecret, reason string, took time.Duration, expiresAt *time.Time) {
	m.syncDuration.WithLabelValues(reason).Observe(took.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seriesOf(es.Namespace, es.Name)
	s.synced = true
	s.syncs = increment(s.syncs, [2]string{reason})
	s.ready, s.readyValue = reason, 0
	if apimeta.IsStatusConditionTrue(es.Status.Conditions, vfv1alpha1.ReadyCondition) {
		s.readyValue = 1
	}
	if reason == vfv1alpha1.SyncedReason && es.Status.RefreshTime != nil {
		s.lastSuccess = float64(es.Status.RefreshTime.Unix())
	}
	s.refreshEvery = es.RefreshEvery().Seconds()
	s.versions = float64(len(es.Status.Versions))
	if expiresAt != nil {
		s.expiry = float64(expiresAt.Unix())
	}
}

// ForgetExternalSecret drops the series of a deleted ExternalSecret.
func (m *Metrics) ForgetExternalSecret(namespace, name string) {
	m.mu.Lock()
	delete(m.series, objectKey{namespace, name})
	m.mu.Unlock()
	m.leaseExpiry.DeleteLabelValues(namespace, name)
	for _, v := range []string{"current", "superseded"} {
		m.leases.DeleteLabelValues(namespace, name, v)
	}
	for _, v := range []string{"Success", "Failed"} {
		m.renewals.DeleteLabelValues(namespace, name, v)
	}
}

// ObserveLeaseRenewal counts one renewal of a lease of es.
func (m *Metrics) ObserveLeaseRenewal(es *vfv1alpha1.ExternalSecret, ok bool) {
	result := "Success"
	if !ok {
		result = "Failed"
	}
	m.renewals.WithLabelValues(es.Namespace, es.Name, result).Inc()
}

// ObserveLeases records the leases es holds and when the earliest ends.
func (m *Metrics) ObserveLeases(es *vfv1alpha1.ExternalSecret, current, superseded int, earliest time.Time) {
	m.leases.WithLabelValues(es.Namespace, es.Name, "current").Set(float64(current))
	m.leases.WithLabelValues(es.Namespace, es.Name, "superseded").Set(float64(superseded))
	if !earliest.IsZero() {
		m.leaseExpiry.WithLabelValues(es.Namespace, es.Name).Set(float64(earliest.Unix()))
	}
}

// ObserveRollout records one workload moved (or not) to a new version.
func (m *Metrics) ObserveRollout(es *vfv1alpha1.ExternalSecret, kind, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seriesOf(es.Namespace, es.Name)
	s.rollouts = increment(s.rollouts, [2]string{kind, result})
}

// ObserveStore records a store's readiness.
func (m *Metrics) ObserveStore(kind, namespace, name string, ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.storeReady.WithLabelValues(kind, namespace, name).Set(v)
}

// ForgetStore drops the series of a deleted store.
func (m *Metrics) ForgetStore(kind, namespace, name string) {
	m.storeReady.DeleteLabelValues(kind, namespace, name)
}

// ClusterExternalSecret namespace states, the values of the state label.
const (
	FanOutProvisioned = "provisioned"
	FanOutNotSynced   = "not_synced"
	FanOutFailed      = "failed"
)

// ObserveClusterExternalSecret records how many namespaces of a
// ClusterExternalSecret are in each state.
func (m *Metrics) ObserveClusterExternalSecret(name string, provisioned, notSynced, failed int) {
	m.fanOut.WithLabelValues(name, FanOutProvisioned).Set(float64(provisioned))
	m.fanOut.WithLabelValues(name, FanOutNotSynced).Set(float64(notSynced))
	m.fanOut.WithLabelValues(name, FanOutFailed).Set(float64(failed))
}

// ForgetClusterExternalSecret drops the series of a deleted ClusterExternalSecret.
func (m *Metrics) ForgetClusterExternalSecret(name string) {
	for _, state := range []string{FanOutProvisioned, FanOutNotSynced, FanOutFailed} {
		m.fanOut.DeleteLabelValues(name, state)
	}
}

// ObserveRequest records one provider call.
func (m *Metrics) ObserveRequest(storeKind, store, provider, operation string, class providers.Class, took time.Duration) {
	m.requests.WithLabelValues(storeKind, store, provider, operation, string(class)).Inc()
	m.requestLength.WithLabelValues(storeKind, store, provider, operation).Observe(took.Seconds())
}
