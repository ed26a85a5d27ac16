package gitops

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// webManifest is the Deployment as it is in Git: it names the stable
// target db-credentials, never a version.
func webManifest(namespace string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %s
spec:
  replicas: 2
  revisionHistoryLimit: 5
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: registry.example/web:1
        env:
        - name: DB_PASSWORD
          valueFrom:
            secretKeyRef: {name: db-credentials, key: password}
        volumeMounts:
        - {name: creds, mountPath: /etc/creds}
      volumes:
      - name: creds
        secret: {secretName: db-credentials}
`, namespace)
}

func TestGitOpsManagedDeploymentUsesVersionsWithoutDrift(t *testing.T) {
	for _, engine := range engines() {
		t.Run(engine.name, func(t *testing.T) {
			reg := start(t)
			ns := env.Namespace(t, nil)
			store := operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("db", `{"password":"r1"}`)...)
			es := fixtures.ExternalSecret(ns, "db", fixtures.WithTarget("db-credentials"), fixtures.WithHistory(1))
			operator.Create(t, env.Client, es)
			v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName

			sync := engine.start(t)
			manifest := newGitRepo(t).write("web.yaml", webManifest(ns))
			sync.apply(t, manifest)
			rs := waitReplicaSets(t, ns, 1)
			waitPodsHolding(t, rs[0], 2, v1)
			reconcileLoop(t, sync, manifest, ns, 1)

			// Rotation: one rollout; the new ReplicaSet's Pods hold the new
			// version, the old one's keep theirs.
			operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"r2"}`)...)
			operator.ForceSync(t, env.Client, es)
			v2 := operator.WaitSynced(t, env.Client, es, v1).Status.CurrentSecretName
			rs = waitReplicaSets(t, ns, 2)
			waitPodsHolding(t, rs[1], 1, v2)
			waitPodsHolding(t, rs[0], 1, v1)
			if got := rs[1].Spec.Template.Annotations[podrefs.PinAnnotation("db-credentials")]; got != v2 {
				t.Errorf("new ReplicaSet pins %q, want %s", got, v2)
			}
			reconcileLoop(t, sync, manifest, ns, 2)
			if got := operator.MetricValue(t, reg, "vaultferry_rollouts_total", map[string]string{"namespace": ns, "result": "Success"}); got != 1 {
				t.Errorf("vaultferry_rollouts_total = %v after one rotation, want 1", got)
			}
			assertVersionsExist(t, ns, v1, v2) // history 1, but v1 is in use

			// kubectl rollout undo returns to the exact previous version and
			// stays there through the operator's rechecks and the engine's
			// reconciliations (Flux takes over kubectl's fields and would
			// remove a pin only kubectl owned).
			env.MustKubectl(t, "-n", ns, "rollout", "undo", "deployment/web")
			waitPinned(t, ns, v1)
			waitPinOwned(t, ns, "web", "db-credentials")
			reconcileLoop(t, sync, manifest, ns, 2)
			waitPinned(t, ns, v1)
			rs = replicaSets(t, ns, "web")
			waitPodsHolding(t, rs[len(rs)-1], 2, v1)

			// The next rotation rolls forward again.
			operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"r3"}`)...)
			operator.ForceSync(t, env.Client, es)
			v3 := operator.WaitSynced(t, env.Client, es, v2).Status.CurrentSecretName
			waitPinned(t, ns, v3)
			rs = waitReplicaSets(t, ns, 3)
			waitPodsHolding(t, rs[2], 1, v3)
			reconcileLoop(t, sync, manifest, ns, 3)
			operator.WaitForEvent(t, env.Client, ns, "web", vfv1alpha1.RolloutReason)
			// history.limit is 1, but every version is still pinned by a
			// ReplicaSet that undo can return to, or held by its Pods.
			time.Sleep(2 * time.Second) // the in-use recheck runs every second
			assertVersionsExist(t, ns, v1, v2, v3)
		})
	}
}

// reconcileLoop runs three of the engine's intervals and checks that it
// reports no drift and causes no rollout.
func reconcileLoop(t *testing.T, sync syncer, manifest, namespace string, replicaSetsWant int) {
	t.Helper()
	before := deployment(t, namespace, "web")
	for range 3 {
		sync.apply(t, manifest)
		if diff := sync.diff(t, manifest); diff != "" {
			t.Fatalf("drift reported for the Git manifest:\n%s", diff)
		}
	}
	after := deployment(t, namespace, "web")
	if after.Generation != before.Generation {
		t.Fatalf("re-applying the Git manifest changed the Deployment (generation %d -> %d)", before.Generation, after.Generation)
	}
	if got := len(replicaSets(t, namespace, "web")); got != replicaSetsWant {
		t.Fatalf("%d ReplicaSets, want %d", got, replicaSetsWant)
	}
}

func deployment(t *testing.T, namespace, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitReplicaSets waits until Deployment web has n ReplicaSets and returns them, oldest first.
func waitReplicaSets(t *testing.T, namespace string, n int) []appsv1.ReplicaSet {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rs := replicaSets(t, namespace, "web")
		if len(rs) == n {
			return rs
		}
		if len(rs) > n || time.Now().After(deadline) {
			t.Fatalf("Deployment web has %d ReplicaSets, want %d", len(rs), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitPinned waits until web's pod template pins version.
func waitPinned(t *testing.T, namespace, version string) {
	t.Helper()
	operator.WaitFor(t, env.Client, deployment(t, namespace, "web"), "web pinned to "+version, func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Annotations[podrefs.PinAnnotation("db-credentials")] == version
	})
}

func assertVersionsExist(t *testing.T, namespace string, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &corev1.Secret{}); err != nil {
			t.Errorf("version %s: %v", name, err)
		}
	}
}
