package gitops

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// A Secret of the target's name that vaultferry did not write (here one
// External Secrets Operator left, during a migration) keeps serving Pods
// until the ExternalSecret has its first version; then new Pods get the
// versions, and the old Secret is never touched.
func TestMigrationFromASecretOfTheSameName(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	legacy := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-credentials", Labels: map[string]string{"reconcile.external-secrets.io/managed": "true"}},
		Data:       map[string][]byte{"password": []byte("from-eso")},
	}
	operator.Create(t, env.Client, legacy)
	store := operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("other", `{"x":"y"}`)...)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithTarget("db-credentials"))
	operator.Create(t, env.Client, es)
	es = operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.NotFoundReason)
	if es.Status.ShadowedSecret != "db-credentials" {
		t.Fatalf("status.shadowedSecret = %q, want db-credentials", es.Status.ShadowedSecret)
	}

	// Not synced yet: the Deployment's Pods are admitted on the old Secret.
	manifest := newGitRepo(t).write("web.yaml", webManifest(ns))
	fluxApply(t, manifest)
	rs := waitReplicaSets(t, ns, 1)
	waitPodsHolding(t, rs[0], 2, "db-credentials")

	// The first version: existing Pods stay, new Pods get the version.
	operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"from-vault"}`)...)
	operator.ForceSync(t, env.Client, es)
	es = operator.WaitSynced(t, env.Client, es, "")
	v1 := es.Status.CurrentSecretName
	if es.Status.ShadowedSecret != "" {
		t.Errorf("status.shadowedSecret = %q after the first sync, want it cleared", es.Status.ShadowedSecret)
	}
	warning := operator.WaitForEvent(t, env.Client, ns, "db", vfv1alpha1.ShadowedSecretReason)
	if !strings.Contains(warning.Note, "Secret db-credentials was not written by vaultferry") {
		t.Errorf("ShadowedSecret event: %q", warning.Note)
	}
	env.MustKubectl(t, "-n", ns, "rollout", "restart", "deployment/web")
	rs = waitReplicaSets(t, ns, 2)
	waitPodsHolding(t, rs[1], 1, v1)
	waitPodsHolding(t, rs[0], 1, "db-credentials")

	got := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(legacy), got); err != nil {
		t.Fatalf("the old Secret is gone: %v", err)
	}
	if string(got.Data["password"]) != "from-eso" || got.ResourceVersion != legacy.ResourceVersion {
		t.Errorf("the old Secret was changed: %+v", got)
	}
}
