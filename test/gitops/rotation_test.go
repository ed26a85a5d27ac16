package gitops

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// appManifest is a Deployment naming two stable targets.
func appManifest(namespace string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %s
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: registry.example/web:1
        envFrom:
        - secretRef: {name: db-credentials}
        - secretRef: {name: api-key}
`, namespace)
}

// A workload using several ExternalSecrets that rotate together rolls once,
// and rotations in quick succession never lose the last version.
func TestRotationsTogetherRollOnce(t *testing.T) {
	reg := start(t)
	ns := env.Namespace(t, nil)
	store := operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("db", `{"password":"d1"}`, "api", `{"key":"a1"}`)...)
	db := fixtures.ExternalSecret(ns, "db", fixtures.WithTarget("db-credentials"), fixtures.WithExtract("db"))
	api := fixtures.ExternalSecret(ns, "api", fixtures.WithTarget("api-key"), fixtures.WithExtract("api"))
	operator.Create(t, env.Client, db, api)
	db1 := operator.WaitSynced(t, env.Client, db, "").Status.CurrentSecretName
	api1 := operator.WaitSynced(t, env.Client, api, "").Status.CurrentSecretName
	fluxApply(t, newGitRepo(t).write("app.yaml", appManifest(ns)))
	waitReplicaSets(t, ns, 1)

	// Both rotate in the vault; both ExternalSecrets are synced at once.
	operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"d2"}`, "api", `{"key":"a2"}`)...)
	operator.ForceSync(t, env.Client, db)
	operator.ForceSync(t, env.Client, api)
	db2 := operator.WaitSynced(t, env.Client, db, db1).Status.CurrentSecretName
	api2 := operator.WaitSynced(t, env.Client, api, api1).Status.CurrentSecretName
	rs := waitReplicaSets(t, ns, 2)
	waitPodsHoldingAll(t, rs[1], db2, api2)
	time.Sleep(3 * time.Second) // past the batch window: a second rollout would show now
	if got := len(replicaSets(t, ns, "web")); got != 2 {
		t.Fatalf("%d ReplicaSets after one joint rotation, want 2 (one rollout)", got)
	}
	if got := operator.MetricValue(t, reg, "vaultferry_rollouts_total", map[string]string{"namespace": ns, "result": "Success"}); got != 1 {
		t.Errorf("vaultferry_rollouts_total = %v, want 1", got)
	}
	if n := rolloutEvents(t, ns, "web"); n != 1 {
		t.Errorf("%d Rollout events on web, want 1", n)
	}

	// Two rotations of db within a second: the workload ends on the last.
	operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"d3"}`, "api", `{"key":"a2"}`)...)
	operator.ForceSync(t, env.Client, db)
	db3 := operator.WaitSynced(t, env.Client, db, db2).Status.CurrentSecretName
	operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"d4"}`, "api", `{"key":"a2"}`)...)
	operator.ForceSync(t, env.Client, db)
	db4 := operator.WaitSynced(t, env.Client, db, db3).Status.CurrentSecretName
	operator.WaitFor(t, env.Client, deployment(t, ns, "web"), "web pinned to "+db4, func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Annotations[podrefs.PinAnnotation("db-credentials")] == db4 &&
			d.Spec.Template.Annotations[podrefs.PinAnnotation("api-key")] == api2
	})
	// The Deployment controller makes the ReplicaSet of that template in its
	// own time: wait for it, rather than take the newest one there is now.
	waitPodsHoldingAll(t, waitReplicaSetPinned(t, ns, "web", "db-credentials", db4), db4, api2)
}

// waitReplicaSetPinned waits for the ReplicaSet of the Deployment whose pod
// template pins target to version.
func waitReplicaSetPinned(t *testing.T, namespace, deployment, target, version string) appsv1.ReplicaSet {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, rs := range replicaSets(t, namespace, deployment) {
			if rs.Spec.Template.Annotations[podrefs.PinAnnotation(target)] == version {
				return rs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ReplicaSet of %s pins %s to %s", deployment, target, version)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitPodsHoldingAll waits until rs has a Pod naming exactly want.
func waitPodsHoldingAll(t *testing.T, rs appsv1.ReplicaSet, want ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		held := secretsHeldBy(t, rs)
		if len(held) > 0 && strings.Join(held[0], ",") == strings.Join(want, ",") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ReplicaSet %s: Pods hold %v, want %v", rs.Name, held, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func rolloutEvents(t *testing.T, namespace, name string) int {
	t.Helper()
	n := 0
	for _, e := range operator.Events(t, env.Client, namespace, name) {
		if e.Reason == vfv1alpha1.RolloutReason {
			n++
		}
	}
	return n
}

// A Deployment naming a target that has not synced yet gets its Pods
// refused with the reason in the ReplicaSet's events; once the
// ExternalSecret syncs, the ReplicaSet's retry is admitted.
func TestUnsyncedTargetRefusesPodsUntilItSyncs(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("other", `{"x":"y"}`)...)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithTarget("db-credentials"))
	operator.Create(t, env.Client, es)
	operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.NotFoundReason)

	fluxApply(t, newGitRepo(t).write("web.yaml", webManifest(ns)))
	rs := waitReplicaSets(t, ns, 1)
	refused := operator.WaitForEvent(t, env.Client, ns, rs[0].Name, "FailedCreate")
	for _, want := range []string{"ExternalSecret db", "no synced version yet", "Ready reason: NotFound"} {
		if !strings.Contains(refused.Note, want) {
			t.Errorf("FailedCreate event %q does not say %q", refused.Note, want)
		}
	}

	operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"p1"}`)...)
	operator.ForceSync(t, env.Client, es)
	v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	waitPodsHolding(t, rs[0], 2, v1)
}
