package targetindex

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

func TestBuild(t *testing.T) {
	es := func(name, target string, status vfv1alpha1.ExternalSecretStatus, opts ...fixtures.ExternalSecretOption) vfv1alpha1.ExternalSecret {
		e := fixtures.ExternalSecret("ns", name, append([]fixtures.ExternalSecretOption{fixtures.WithTarget(target)}, opts...)...)
		e.Status = status
		return *e
	}
	ready := func(reason string) []metav1.Condition {
		return []metav1.Condition{{Type: vfv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: reason}}
	}
	versions := func(names ...string) []vfv1alpha1.SecretVersion {
		var out []vfv1alpha1.SecretVersion
		for _, n := range names {
			out = append(out, vfv1alpha1.SecretVersion{Name: n})
		}
		return out
	}
	deleting := es("deleting", "gone", vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "gone-1111111111"})
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	deleting.Finalizers = []string{"x"}

	long := strings.Repeat("l", 60)
	got := Build("ns", []vfv1alpha1.ExternalSecret{
		es("db", "db-credentials", vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "db-credentials-new", Versions: versions("db-credentials-new", "db-credentials-old")}),
		es("waiting", "api-key", vfv1alpha1.ExternalSecretStatus{Conditions: ready(vfv1alpha1.ProviderErrorReason)}),
		// Before its first version, a name held by another Secret stays out: Pods keep using that Secret.
		es("migrating", "legacy", vfv1alpha1.ExternalSecretStatus{ShadowedSecret: "legacy"}),
		es("mutable", "plain", vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "plain"}, fixtures.WithMutableTarget()),
		es("renamed", "new-name", vfv1alpha1.ExternalSecretStatus{CurrentSecretName: "old-name-2222222222", Versions: versions("old-name-2222222222")}),
		es("long", long, vfv1alpha1.ExternalSecretStatus{CurrentSecretName: long + "-3333333333"}),
		// Second writer of db-credentials (TargetConflict): the synced one keeps it.
		es("a-conflict", "db-credentials", vfv1alpha1.ExternalSecretStatus{Conditions: ready(vfv1alpha1.TargetConflictReason)}),
		deleting,
	})
	want := &vfv1alpha1.TargetIndex{
		Targets:  map[string]string{"db-credentials": "db-credentials-new", "api-key": "", "new-name": "", long: long + "-3333333333"},
		Versions: map[string]string{"db-credentials": "db-credentials-new db-credentials-old", long: long + "-3333333333"},
		Pending: map[string]string{
			"api-key":  "ExternalSecret waiting (Ready reason: ProviderError)",
			"new-name": "ExternalSecret renamed (Ready reason: not reconciled yet)",
		},
		PinAnnotations: map[string]string{long: podrefs.PinAnnotation(long)},
		TargetCount:    4,
	}
	want.Namespace, want.Name = "ns", vfv1alpha1.TargetIndexName
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
