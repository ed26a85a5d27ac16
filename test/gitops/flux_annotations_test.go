package gitops

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
)

// Flux's per-object apply modes, kustomize.toolkit.fluxcd.io/ssa, on the
// ExternalSecret and the Deployment (as a kustomize overlay's
// commonAnnotations sets them). Merge: applied without the managedFields
// cleanup; IfNotPresent: created once, never changed after; both keep an
// undo and a force-sync annotation, and only Merge applies a hold committed
// later.
func TestFluxSSAApplyModes(t *testing.T) {
	for _, mode := range []string{"Merge", "IfNotPresent"} {
		t.Run(mode, func(t *testing.T) {
			app, v1 := startFluxApp(t, func(ns string) string { return esManifest(ns, "") }, map[string]string{fluxGroup + "/ssa": mode})
			ns, es, flux, git, esPath, webPath := app.namespace, app.es, app.flux, app.git, app.esPath, app.webPath
			app.rotate(t, "second", v1)

			// Undo stays through Flux's intervals.
			env.MustKubectl(t, "-n", ns, "rollout", "undo", "deployment/web")
			waitPinned(t, ns, v1)
			for range 3 {
				flux.reconcile(esPath, webPath)
			}
			time.Sleep(time.Second)
			if got := deployment(t, ns, "web").Spec.Template.Annotations[podrefs.PinAnnotation("db-credentials")]; got != v1 {
				t.Errorf("pin after Flux's intervals = %s, want the undone-to %s", got, v1)
			}
			if got := len(replicaSets(t, ns, "web")); got != 2 {
				t.Errorf("%d ReplicaSets after undo and Flux's intervals, want 2", got)
			}

			// A force-sync annotation stays: no cleanup in either mode.
			env.MustKubectl(t, "-n", ns, "annotate", "--overwrite", "externalsecrets.vaultferry.io/db", vfv1alpha1.ForceSyncAnnotation+"=now")
			operator.WaitFor(t, env.Client, es, "the force-sync acted on", func(es *vfv1alpha1.ExternalSecret) bool {
				return es.Status.SyncedForceSync == "now"
			})
			flux.reconcile(esPath, webPath)
			if got := operator.WaitFor(t, env.Client, es, "read", func(*vfv1alpha1.ExternalSecret) bool { return true }); got.Annotations[vfv1alpha1.ForceSyncAnnotation] != "now" {
				t.Errorf("force-sync annotation after a Flux interval = %q, want kept", got.Annotations[vfv1alpha1.ForceSyncAnnotation])
			}

			// A hold committed to Git: Merge applies it; IfNotPresent never
			// changes an object it created, so holds need kubectl there.
			flux.reconcile(git.write("es.yaml", esManifest(ns, v1)), webPath)
			if mode == "Merge" {
				operator.WaitFor(t, env.Client, es, "held at "+v1, func(es *vfv1alpha1.ExternalSecret) bool { return es.Status.HeldVersion == v1 })
				return
			}
			time.Sleep(2 * time.Second)
			if got := operator.WaitFor(t, env.Client, es, "read", func(*vfv1alpha1.ExternalSecret) bool { return true }); got.Spec.Target.HoldVersion != "" {
				t.Errorf("IfNotPresent: holdVersion = %q after a Flux interval, want Git's change not applied", got.Spec.Target.HoldVersion)
			}
		})
	}
}

// kustomize.toolkit.fluxcd.io/ssa: Ignore on an ExternalSecret created
// outside Flux: Flux neither changes nor prunes it, so removing it from Git
// leaves it and its versions syncing.
func TestFluxSSAIgnore(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("db", `{"password":"i1"}`)...)
	git := newGitRepo(t)
	esPath := git.write("es.yaml", esManifest(ns, ""))
	env.MustKubectl(t, "apply", "-f", esPath)
	env.MustKubectl(t, "-n", ns, "annotate", "externalsecrets.vaultferry.io/db", fluxGroup+"/ssa=Ignore")
	es := fixtures.ExternalSecret(ns, "db")
	v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName

	flux := newKustomization(t, "apps")
	flux.commonAnnotations = map[string]string{fluxGroup + "/ssa": "Ignore"}
	if got := flux.reconcile(git.write("es.yaml", esManifest(ns, v1)))["ExternalSecret/"+ns+"/db"]; got != "skipped" {
		t.Errorf("Flux's action on the ignored ExternalSecret = %q, want skipped", got)
	}
	if got := flux.reconcile()["ExternalSecret/"+ns+"/db"]; got != "" && !strings.Contains(got, "skipped") {
		t.Errorf("Flux's prune action on the ignored ExternalSecret = %q, want none", got)
	}
	time.Sleep(2 * time.Second)
	kept := operator.WaitForReason(t, env.Client, es, metav1.ConditionTrue, vfv1alpha1.SyncedReason)
	if !kept.DeletionTimestamp.IsZero() || kept.Spec.Target.HoldVersion != "" {
		t.Errorf("ignored ExternalSecret changed by Flux: deleting=%v holdVersion=%q", !kept.DeletionTimestamp.IsZero(), kept.Spec.Target.HoldVersion)
	}
	assertVersionsExist(t, ns, v1)
}
