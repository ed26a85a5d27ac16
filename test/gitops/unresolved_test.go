package gitops

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// Flux applies a Kustomization's Deployments before its custom resources
// (fluxcd/pkg/ssa's kind order), so Pods of an app whose ExternalSecret is
// new, or added to Git after the app, can be admitted before the operator
// has indexed the target: they name a Secret that never exists and cannot
// start. Once the target has a version, the operator pins the Deployment
// to it, which rolls the stuck Pods away; a bare Pod gets an event saying
// to re-create it. Flux then reports no drift.
func TestPodsAdmittedBeforeTheirTargetWasIndexed(t *testing.T) {
	for _, layout := range []string{"ExternalSecret added to Git after the app", "ExternalSecret and app in one Kustomization"} {
		t.Run(layout, func(t *testing.T) {
			start(t)
			ns := env.Namespace(t, nil)
			operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("db", `{"password":"e1"}`)...)
			git := newGitRepo(t)
			flux := newKustomization(t, "apps")
			esPath, webPath := git.write("es.yaml", esManifest(ns, "")), git.write("web.yaml", webManifest(ns))
			es := fixtures.ExternalSecret(ns, "db")
			bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bare"}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
				Volumes:    []corev1.Volume{{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-credentials"}}}},
			}}

			if layout == "ExternalSecret added to Git after the app" {
				flux.reconcile(webPath)
				waitPodsHolding(t, waitReplicaSets(t, ns, 1)[0], 2, "db-credentials")
				operator.Create(t, env.Client, bare)
			}
			flux.reconcile(esPath, webPath)
			v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
			waitNewestPodsHolding(t, ns, v1)
			if layout == "ExternalSecret added to Git after the app" {
				waitPinned(t, ns, v1)
				operator.WaitForEvent(t, env.Client, ns, "web", vfv1alpha1.UnresolvedPodReason)
				operator.WaitForEvent(t, env.Client, ns, "bare", vfv1alpha1.UnresolvedPodReason)
			}
			for range 2 {
				flux.reconcile(esPath, webPath)
			}
			if diff := flux.diffOf(esPath, webPath); diff != "" {
				t.Errorf("Flux reports drift after the operator resolved the Pods:\n%s", diff)
			}
			waitNewestPodsHolding(t, ns, v1)
		})
	}
}

// waitNewestPodsHolding waits until web's newest ReplicaSet has a Pod and
// all its Pods name only want.
func waitNewestPodsHolding(t *testing.T, namespace, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rs := replicaSets(t, namespace, "web")
		if len(rs) > 0 && holdOnly(secretsHeldBy(t, rs[len(rs)-1]), 1, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("web's newest ReplicaSet has no Pods holding only %s (%d ReplicaSets)", want, len(rs))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
