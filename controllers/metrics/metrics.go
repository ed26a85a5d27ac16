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
	syncs         *prometheus.CounterVec
	syncDuration  *prometheus.HistogramVec
	ready         *prometheus.GaugeVec
	lastSuccess   *prometheus.GaugeVec
	refreshEvery  *prometheus.GaugeVec
	versions      *prometheus.GaugeVec
	expiry        *prometheus.GaugeVec
	storeReady    *prometheus.GaugeVec
	rollouts      *prometheus.CounterVec
	requests      *prometheus.CounterVec
	requestLength *prometheus.HistogramVec
	fanOut        *prometheus.GaugeVec
	leases        *prometheus.GaugeVec
	leaseExpiry   *prometheus.GaugeVec
	renewals      *prometheus.CounterVec

	// series remembers, per ExternalSecret, the label values of its series
	// with more labels than namespace and name, so that a change of reason or
	// a deletion removes exactly those: DeletePartialMatch scans every series
	// of the vector, which made each sync cost O(ExternalSecrets).
	mu     sync.Mutex
	series map[objectKey]*objectSeries
}

type objectKey struct{ namespace, name string }

type objectSeries struct {
	ready    string                 // the reason label of the one ready series
	syncs    map[string]struct{}    // result labels of vaultferry_sync_total
	rollouts map[[2]string]struct{} // kind and result labels of vaultferry_rollouts_total
}

// seriesOf returns the record of an ExternalSecret's series; m.mu is held.
func (m *Metrics) seriesOf(namespace, name string) *objectSeries {
	key := objectKey{namespace, name}
	s := m.series[key]
	if s == nil {
		s = &objectSeries{syncs: map[string]struct{}{}, rollouts: map[[2]string]struct{}{}}
		m.series[key] = s
	}
	return s
}

// New creates the metrics and registers them with reg (controller-runtime's
// metrics.Registry in the operator, so they are served on its endpoint).
func New(reg prometheus.Registerer) *Metrics {
	object := []string{"namespace", "name"}
	m := &Metrics{
		series: map[objectKey]*objectSeries{},
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaultferry_sync_total", Help: "ExternalSecret syncs by outcome: Synced, or the failure reason.",
		}, append(object, "result")),
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vaultferry_sync_duration_seconds", Help: "Time to fetch, render and apply one ExternalSecret.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"result"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaultferry_externalsecret_ready",
			Help: "1 when the ExternalSecret's Ready condition is True, else 0; reason is the condition's reason (one series per ExternalSecret).",
		}, append(object, "reason")),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaultferry_externalsecret_last_sync_timestamp_seconds", Help: "Unix time of the last successful sync.",
		}, object),
		refreshEvery: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaultferry_externalsecret_refresh_interval_seconds", Help: "The ExternalSecret's refresh interval; 0 means fetch once.",
		}, object),
		versions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaultferry_externalsecret_versions", Help: "Versions (immutable Secrets) kept for the ExternalSecret, the current one included.",
		}, object),
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaultferry_secret_expiry_timestamp_seconds", Help: "Unix time at which the earliest source secret expires, where the provider reports one.",
		}, object),
		rollouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaultferry_rollouts_total", Help: "Workloads moved to a new version, by workload kind and result (Success, Failed).",
		}, append(object, "kind", "result")),
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
	reg.MustRegister(m.leases, m.leaseExpiry, m.renewals, m.fanOut, m.syncs, m.syncDuration, m.ready, m.lastSuccess, m.refreshEvery, m.versions, m.expiry, m.rollouts, m.storeReady, m.requests, m.requestLength)
	return m
}

// ObserveSync records one sync of es; reason is SyncedReason on success.
func (m *Metrics) ObserveSync(es *vfv1alpha1.ExternalSecret, reason string, took time.Duration, expiresAt *time.Time) {
	m.syncs.WithLabelValues(es.Namespace, es.Name, reason).Inc()
	m.syncDuration.WithLabelValues(reason).Observe(took.Seconds())
	ready := 0.0
	if apimeta.IsStatusConditionTrue(es.Status.Conditions, vfv1alpha1.ReadyCondition) {
		ready = 1
	}
	m.mu.Lock()
	s := m.seriesOf(es.Namespace, es.Name)
	s.syncs[reason] = struct{}{}
	// One series per ExternalSecret: the previous reason's series goes.
	if s.ready != "" && s.ready != reason {
		m.ready.DeleteLabelValues(es.Namespace, es.Name, s.ready)
	}
	s.ready = reason
	m.ready.WithLabelValues(es.Namespace, es.Name, reason).Set(ready)
	m.mu.Unlock()
	if reason == vfv1alpha1.SyncedReason && es.Status.RefreshTime != nil {
		m.lastSuccess.WithLabelValues(es.Namespace, es.Name).Set(float64(es.Status.RefreshTime.Unix()))
	}
	m.refreshEvery.WithLabelValues(es.Namespace, es.Name).Set(es.RefreshEvery().Seconds())
	m.versions.WithLabelValues(es.Namespace, es.Name).Set(float64(len(es.Status.Versions)))
	if expiresAt != nil {
		m.expiry.WithLabelValues(es.Namespace, es.Name).Set(float64(expiresAt.Unix()))
	}
}

// ForgetExternalSecret drops the series of a deleted ExternalSecret.
func (m *Metrics) ForgetExternalSecret(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "name": name}
	m.mu.Lock()
	if s := m.series[objectKey{namespace, name}]; s != nil {
		for result := range s.syncs {
			m.syncs.DeleteLabelValues(namespace, name, result)
		}
		for kr := range s.rollouts {
			m.rollouts.DeleteLabelValues(namespace, name, kr[0], kr[1])
		}
		m.ready.DeleteLabelValues(namespace, name, s.ready)
		delete(m.series, objectKey{namespace, name})
	}
	m.mu.Unlock()
	for _, g := range []*prometheus.GaugeVec{m.lastSuccess, m.refreshEvery, m.versions, m.expiry, m.leaseExpiry} {
		g.Delete(labels)
	}
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
	m.rollouts.WithLabelValues(es.Namespace, es.Name, kind, result).Inc()
	m.mu.Lock()
	m.seriesOf(es.Namespace, es.Name).rollouts[[2]string{kind, result}] = struct{}{}
	m.mu.Unlock()
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
