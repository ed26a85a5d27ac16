package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

// syncedExternalSecret is Ready, refreshed hourly, last synced at synced
// and keeping versions versions.
func syncedExternalSecret(namespace, name string, synced time.Time, versions int) *vfv1alpha1.ExternalSecret {
	es := fixtures.ExternalSecret(namespace, name, fixtures.WithRefresh(time.Hour))
	es.Status.RefreshTime = &metav1.Time{Time: synced}
	es.Status.Versions = make([]vfv1alpha1.SecretVersion, versions)
	es.Status.Conditions = []metav1.Condition{{Type: vfv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: vfv1alpha1.SyncedReason}}
	return es
}

// failingExternalSecret is not Ready, for reason.
func failingExternalSecret(namespace, name, reason string) *vfv1alpha1.ExternalSecret {
	es := fixtures.ExternalSecret(namespace, name)
	es.Status.Conditions = []metav1.Condition{{Type: vfv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: reason}}
	return es
}

func TestMetricValuesAfterScriptedSyncs(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.New(reg)
	synced := time.Unix(1_800_000_000, 0)
	expires := time.Unix(1_800_600_000, 0)

	ok := syncedExternalSecret("team", "db", synced, 2)
	m.ObserveSync(ok, vfv1alpha1.SyncedReason, 20*time.Millisecond, &expires)
	m.ObserveSync(ok, vfv1alpha1.SyncedReason, 30*time.Millisecond, &expires)

	failing := failingExternalSecret("team", "api", vfv1alpha1.UnavailableReason)
	m.ObserveSync(failing, vfv1alpha1.UnavailableReason, time.Millisecond, nil)
	failing.Status.Conditions[0].Reason = vfv1alpha1.ForbiddenReason // the failure changes: still one ready series
	m.ObserveSync(failing, vfv1alpha1.ForbiddenReason, time.Millisecond, nil)

	m.ObserveRequest(vfv1alpha1.SecretStoreKind, "team/vault", "vault", "GetSecret", "Success", time.Millisecond)
	m.ObserveRequest(vfv1alpha1.SecretStoreKind, "team/vault", "vault", "GetSecret", providers.ClassThrottled, time.Millisecond)
	m.ObserveRequest(vfv1alpha1.SecretStoreKind, "team/vault", "vault", "GetSecret", providers.ClassThrottled, time.Millisecond)
	m.ObserveStore(vfv1alpha1.ClusterSecretStoreKind, "", "shared", false)

	want := `
# HELP vaultferry_externalsecret_ready 1 when the ExternalSecret's Ready condition is True, else 0; reason is the condition's reason (one series per ExternalSecret).
# TYPE vaultferry_externalsecret_ready gauge
vaultferry_externalsecret_ready{name="api",namespace="team",reason="Forbidden"} 0
vaultferry_externalsecret_ready{name="db",namespace="team",reason="Synced"} 1
# HELP vaultferry_externalsecret_last_sync_timestamp_seconds Unix time of the last successful sync.
# TYPE vaultferry_externalsecret_last_sync_timestamp_seconds gauge
vaultferry_externalsecret_last_sync_timestamp_seconds{name="db",namespace="team"} 1.8e+09
# HELP vaultferry_externalsecret_versions Versions (immutable Secrets) kept for the ExternalSecret, the current one included.
# TYPE vaultferry_externalsecret_versions gauge
vaultferry_externalsecret_versions{name="api",namespace="team"} 0
vaultferry_externalsecret_versions{name="db",namespace="team"} 2
# HELP vaultferry_secret_expiry_timestamp_seconds Unix time at which the earliest source secret expires, where the provider reports one.
# TYPE vaultferry_secret_expiry_timestamp_seconds gauge
vaultferry_secret_expiry_timestamp_seconds{name="db",namespace="team"} 1.8006e+09
# HELP vaultferry_secretstore_ready 1 when the store's Ready condition is True, else 0.
# TYPE vaultferry_secretstore_ready gauge
vaultferry_secretstore_ready{kind="ClusterSecretStore",name="shared",namespace=""} 0
# HELP vaultferry_sync_total ExternalSecret syncs by outcome: Synced, or the failure reason.
# TYPE vaultferry_sync_total counter
vaultferry_sync_total{name="api",namespace="team",result="Forbidden"} 1
vaultferry_sync_total{name="api",namespace="team",result="Unavailable"} 1
vaultferry_sync_total{name="db",namespace="team",result="Synced"} 2
`
	names := []string{"vaultferry_externalsecret_ready", "vaultferry_externalsecret_last_sync_timestamp_seconds",
		"vaultferry_externalsecret_versions", "vaultferry_secret_expiry_timestamp_seconds", "vaultferry_secretstore_ready", "vaultferry_sync_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "vaultferry_sync_duration_seconds"); n != 3 {
		t.Errorf("sync duration has %d series, want one per result (3)", n)
	}
	throttled, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if got := counterValue(throttled, "vaultferry_provider_requests_total", "result", "Throttled"); got != 2 {
		t.Errorf("throttled requests = %v, want 2", got)
	}

	// Deleting an ExternalSecret removes all its series, and only its.
	m.ObserveRollout(ok, "Deployment", "Success")
	m.ObserveRollout(ok, "StatefulSet", "Failed")
	other := fixtures.ExternalSecret("team", "db-other")
	m.ObserveSync(other, vfv1alpha1.SyncedReason, time.Millisecond, nil)
	m.ObserveRollout(other, "Deployment", "Success")
	m.ForgetExternalSecret("team", "db")
	m.ForgetExternalSecret("team", "api")
	for _, name := range []string{"vaultferry_sync_total", "vaultferry_externalsecret_ready", "vaultferry_rollouts_total"} {
		if n := testutil.CollectAndCount(reg, name); n != 1 {
			t.Errorf("%s has %d series, want only db-other's", name, n)
		}
	}
	m.ForgetExternalSecret("team", "db-other")
	for _, name := range names[:5] {
		if name == "vaultferry_secretstore_ready" {
			continue
		}
		if n := testutil.CollectAndCount(reg, name); n != 0 {
			t.Errorf("%s still has %d series after the ExternalSecrets were deleted", name, n)
		}
	}
	if n := testutil.CollectAndCount(reg, "vaultferry_sync_total"); n != 0 {
		t.Errorf("vaultferry_sync_total still has %d series", n)
	}
}

func counterValue(families []*dto.MetricFamily, name, label, value string) float64 {
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
