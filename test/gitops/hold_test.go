package gitops

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// esManifest is the ExternalSecret as it is in Git, held at holdVersion
// when that is not "".
func esManifest(namespace, holdVersion string) string {
	hold := ""
	if holdVersion != "" {
		hold = "\n    holdVersion: " + holdVersion
	}
	return fmt.Sprintf(`apiVersion: vaultferry.io/v1alpha1
kind: ExternalSecret
metadata:
  name: db
  namespace: %s
spec:
  secretStoreRef: {name: store, kind: SecretStore}
  refreshInterval: 1h
  dataFrom:
  - extract: {key: db}
  target:
    name: db-credentials
    history: {limit: 1}%s
`, namespace, hold)
}

// A rollback that lives in Git: target.holdVersion, committed and applied by
// the engine, holds the workload at a kept version through new versions,
// keeps that version past history.limit, says so in status, and its
// removal rolls forward. A force-sync set with kubectl on the Git-managed
// ExternalSecret reads once, and the engine removing the annotation reads
// nothing more.
func TestHoldInGit(t *testing.T) {
	for _, engine := range engines() {
		t.Run(engine.name, func(t *testing.T) {
			reg := start(t)
			ns := env.Namespace(t, nil)
			store := operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("db", `{"password":"h1"}`)...)
			git := newGitRepo(t)
			sync := engine.start(t)
			es := fixtures.ExternalSecret(ns, "db")
			apply := func(hold string) {
				t.Helper()
				sync.apply(t, git.write("es.yaml", esManifest(ns, hold)), git.write("web.yaml", webManifest(ns)))
			}
			// The ExternalSecret first, as a Flux dependsOn or an Argo CD
			// sync wave orders it: Pods admitted before the operator has
			// indexed a new target keep the name as written.
			sync.apply(t, git.write("es.yaml", esManifest(ns, "")))
			v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
			waitIndexed(t, ns, "db-credentials", v1)
			apply("")
			waitPodsHolding(t, waitReplicaSets(t, ns, 1)[0], 2, v1)
			operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"h2"}`)...)
			operator.ForceSync(t, env.Client, es)
			v2 := operator.WaitSynced(t, env.Client, es, v1).Status.CurrentSecretName
			waitPinned(t, ns, v2)

			// Commit the hold: the workload rolls back to v1, new Pods get it.
			apply(v1)
			held := operator.WaitFor(t, env.Client, es, "held at "+v1, func(es *vfv1alpha1.ExternalSecret) bool {
				return es.Status.HeldVersion == v1 && hasCondition(es, metav1.ConditionTrue, vfv1alpha1.HeldReason)
			})
			if held.Status.CurrentSecretName != v2 {
				t.Errorf("currentSecretName = %s while held, want %s (still the newest)", held.Status.CurrentSecretName, v2)
			}
			waitPinned(t, ns, v1)
			waitPodsHolding(t, waitReplicaSetPinned(t, ns, "web", "db-credentials", v1), 2, v1)
			waitIndexed(t, ns, "db-credentials", v1)

			// A new version while held: synced and kept, workloads stay, and
			// the held version outlives history.limit.
			operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"h3"}`)...)
			operator.ForceSync(t, env.Client, es)
			v3 := operator.WaitSynced(t, env.Client, es, v2).Status.CurrentSecretName
			apply(v1)                   // the engine's next interval
			time.Sleep(3 * time.Second) // past the batch window: a rollout would show now
			waitPinned(t, ns, v1)
			assertVersionsExist(t, ns, v1, v3)

			// Force-sync on the Git-managed ExternalSecret: one read; the
			// engine's next interval may remove the annotation (Flux does),
			// which reads nothing.
			reads := func() float64 {
				return operator.MetricValue(t, reg, "vaultferry_provider_requests_total", map[string]string{"store": ns + "/store"})
			}
			before := reads()
			env.MustKubectl(t, "-n", ns, "annotate", "--overwrite", "externalsecrets.vaultferry.io/db", vfv1alpha1.ForceSyncAnnotation+"=now")
			operator.WaitFor(t, env.Client, es, "the force-sync acted on", func(es *vfv1alpha1.ExternalSecret) bool {
				return es.Status.SyncedForceSync == "now"
			})
			if got := reads() - before; got != 1 {
				t.Errorf("%v reads for one force-sync, want 1", got)
			}
			apply(v1)
			annotated := operator.WaitFor(t, env.Client, es, "the engine's interval seen", func(*vfv1alpha1.ExternalSecret) bool { return true })
			if _, kept := annotated.Annotations[vfv1alpha1.ForceSyncAnnotation]; kept == engine.takesOverKubectl {
				t.Errorf("force-sync annotation kept = %v after the engine's interval, want %v", kept, !engine.takesOverKubectl)
			}
			time.Sleep(2 * time.Second)
			if got := reads() - before; got != 1 {
				t.Errorf("%v reads after the engine's interval following a force-sync, want 1", got)
			}

			// A hold on a version that is not kept: a clear condition, and
			// workloads get the current version.
			apply(v1[:len(v1)-1] + "x")
			operator.WaitFor(t, env.Client, es, "HeldVersionNotFound", func(es *vfv1alpha1.ExternalSecret) bool {
				return es.Status.HeldVersion == "" && hasCondition(es, metav1.ConditionFalse, vfv1alpha1.HeldVersionNotFoundReason)
			})
			operator.WaitForEvent(t, env.Client, ns, "db", vfv1alpha1.HeldVersionNotFoundReason)
			waitPinned(t, ns, v3)

			// Released: the condition goes, workloads roll to the current one.
			apply(v1)
			waitPinned(t, ns, v1)
			apply("")
			operator.WaitFor(t, env.Client, es, "no hold", func(es *vfv1alpha1.ExternalSecret) bool {
				return es.Status.HeldVersion == "" && operator.Condition(es.Status.Conditions, vfv1alpha1.HeldCondition) == nil
			})
			operator.WaitForEvent(t, env.Client, ns, "db", vfv1alpha1.HoldReleasedReason)
			waitPinned(t, ns, v3)
			// One new Pod: without kubelets no Pod gets ready, so the rolling
			// update goes no further.
			waitPodsHolding(t, waitReplicaSetPinned(t, ns, "web", "db-credentials", v3), 1, v3)
			waitIndexed(t, ns, "db-credentials", v3)
		})
	}
}

// waitIndexed waits until the namespace's TargetIndex gives new Pods
// naming target the version want.
func waitIndexed(t *testing.T, namespace, target, want string) {
	t.Helper()
	index := &vfv1alpha1.TargetIndex{}
	index.Namespace, index.Name = namespace, vfv1alpha1.TargetIndexName
	operator.WaitFor(t, env.Client, index, "the index serving "+want, func(i *vfv1alpha1.TargetIndex) bool {
		return i.Targets[target] == want
	})
}

// hasCondition says whether es's Held condition has status and reason.
func hasCondition(es *vfv1alpha1.ExternalSecret, status metav1.ConditionStatus, reason string) bool {
	c := operator.Condition(es.Status.Conditions, vfv1alpha1.HeldCondition)
	return c != nil && c.Status == status && c.Reason == reason
}
