package gitops

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/normalize"
	ssautil "github.com/fluxcd/pkg/ssa/utils"
	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Flux's kustomize-controller, reduced to what it does to the objects of
// one Kustomization at each interval, with Flux's own apply engine
// (github.com/fluxcd/pkg/ssa) and the options kustomize-controller passes
// it (internal/controller/kustomization_controller.go, apply and
// deleteObjects): normalize, owner labels, ApplyAllStaged with its
// managedFields cleanup (which takes over every kubectl* field manager),
// inventory, prune of what left Git, and Diff for `flux diff`.
const (
	fluxController = "kustomize-controller"
	fluxGroup      = "kustomize.toolkit.fluxcd.io"
)

// kustomization is one Flux Kustomization: its name, the annotations its
// kustomize overlay gives every object (commonAnnotations), and the
// inventory of its last apply.
type kustomization struct {
	t                 *testing.T
	name              string
	commonAnnotations map[string]string
	inventory         map[string]*unstructured.Unstructured // by ssautil.FmtUnstructured
}

func newKustomization(t *testing.T, name string) *kustomization {
	return &kustomization{t: t, name: name, inventory: map[string]*unstructured.Unstructured{}}
}

func (k *kustomization) manager() *ssa.ResourceManager {
	// The status poller only waits for CRDs and Namespaces, which these
	// tests never apply.
	return ssa.NewResourceManager(env.Client, nil, ssa.Owner{Field: fluxController, Group: fluxGroup})
}

// objects reads the manifests of the Git checkout as kustomize-controller
// reads the build output.
func (k *kustomization) objects(manifests ...string) []*unstructured.Unstructured {
	k.t.Helper()
	var all []*unstructured.Unstructured
	for _, path := range manifests {
		raw, err := os.ReadFile(path)
		if err != nil {
			k.t.Fatal(err)
		}
		objects, err := ssautil.ReadObjects(strings.NewReader(string(raw)))
		if err != nil {
			k.t.Fatal(err)
		}
		all = append(all, objects...)
	}
	for _, o := range all {
		annotations := o.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		maps.Copy(annotations, k.commonAnnotations)
		o.SetAnnotations(annotations)
	}
	if err := normalize.UnstructuredList(all); err != nil {
		k.t.Fatal(err)
	}
	return all
}

// reconcile is one interval: apply what Git holds, then prune what left it.
// It returns the change set's actions by object, e.g. "Deployment/ns/web":
// "configured".
func (k *kustomization) reconcile(manifests ...string) map[string]string {
	k.t.Helper()
	ctx := context.Background()
	objects := k.objects(manifests...)
	m := k.manager()
	m.SetOwnerLabels(objects, k.name, "flux-system")
	changeSet, err := m.ApplyAllStaged(ctx, objects, fluxApplyOptions())
	if err != nil {
		k.t.Fatalf("Flux apply: %v", err)
	}
	actions := map[string]string{}
	applied := map[string]*unstructured.Unstructured{}
	for _, e := range changeSet.Entries {
		actions[e.Subject] = string(e.Action)
	}
	for _, o := range objects {
		applied[ssautil.FmtUnstructured(o)] = o
	}
	var stale []*unstructured.Unstructured
	for id, o := range k.inventory {
		if _, kept := applied[id]; !kept {
			stale = append(stale, o)
		}
	}
	if len(stale) > 0 {
		deleted, err := m.DeleteAll(ctx, stale, ssa.DeleteOptions{
			PropagationPolicy: metav1.DeletePropagationBackground,
			Inclusions:        m.GetOwnerLabels(k.name, "flux-system"),
			Exclusions: map[string]string{
				fluxGroup + "/prune":     "disabled",
				fluxGroup + "/reconcile": "disabled",
				fluxGroup + "/ssa":       "Ignore",
			},
		})
		if err != nil {
			k.t.Fatalf("Flux prune: %v", err)
		}
		for _, e := range deleted.Entries {
			actions[e.Subject] = string(e.Action)
		}
	}
	k.inventory = applied
	return actions
}

// diff is `flux diff kustomization`: what the next apply would change
// ("" when nothing).
func (k *kustomization) diffOf(manifests ...string) string {
	k.t.Helper()
	objects := k.objects(manifests...)
	m := k.manager()
	m.SetOwnerLabels(objects, k.name, "flux-system")
	var changed []string
	for _, o := range objects {
		entry, _, _, err := m.Diff(context.Background(), o, ssa.DiffOptions{
			Exclusions: map[string]string{fluxGroup + "/reconcile": "disabled", fluxGroup + "/ssa": "Ignore"},
		})
		if err != nil {
			k.t.Fatalf("Flux diff: %v", err)
		}
		if entry.Action != ssa.UnchangedAction && entry.Action != ssa.SkippedAction {
			changed = append(changed, fmt.Sprintf("%s %s", entry.Subject, entry.Action))
		}
	}
	return strings.Join(changed, "\n")
}

// fluxApplyOptions are kustomize-controller's options for a Kustomization
// with the defaults (force: false, no DisallowedFieldManagers).
func fluxApplyOptions() ssa.ApplyOptions {
	opts := ssa.DefaultApplyOptions()
	opts.ExclusionSelector = map[string]string{fluxGroup + "/reconcile": "disabled", fluxGroup + "/ssa": "Ignore"}
	opts.IfNotPresentSelector = map[string]string{fluxGroup + "/ssa": "IfNotPresent"}
	opts.ForceSelector = map[string]string{fluxGroup + "/force": "enabled"}
	opts.Cleanup = ssa.ApplyCleanupOptions{
		Annotations: []string{corev1.LastAppliedConfigAnnotation, fluxGroup + "/checksum", "fluxcd.io/sync-checksum"},
		Labels:      []string{"fluxcd.io/sync-gc-mark"},
		FieldManagers: []ssa.FieldManager{
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: fluxController, OperationType: metav1.ManagedFieldsOperationUpdate},
		},
		Exclusions: map[string]string{fluxGroup + "/ssa": "Merge"},
	}
	return opts
}

// fluxApp is an app kept in Git and applied by Flux: ExternalSecret db
// (target db-credentials, history.limit 1) and Deployment web naming it.
type fluxApp struct {
	namespace       string
	store           *vfv1alpha1.SecretStore
	es              *vfv1alpha1.ExternalSecret
	git             gitRepo
	flux            *kustomization
	esPath, webPath string
}

// startFluxApp runs the operator and has Flux apply esDoc (the
// ExternalSecret's manifest) first, then the app, the way a dependsOn
// orders them, with annotations on every object; it returns once web's two
// Pods hold the first version, which it also returns.
func startFluxApp(t *testing.T, esDoc func(namespace string) string, annotations map[string]string) (*fluxApp, string) {
	t.Helper()
	start(t)
	ns := env.Namespace(t, nil)
	a := &fluxApp{namespace: ns, git: newGitRepo(t), flux: newKustomization(t, "apps"), es: fixtures.ExternalSecret(ns, "db")}
	a.store = operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("db", `{"password":"first"}`)...)
	a.flux.commonAnnotations = annotations
	a.esPath, a.webPath = a.git.write("es.yaml", esDoc(ns)), a.git.write("web.yaml", webManifest(ns))
	a.flux.reconcile(a.esPath)
	v1 := operator.WaitSynced(t, env.Client, a.es, "").Status.CurrentSecretName
	waitIndexed(t, ns, "db-credentials", v1)
	a.flux.reconcile(a.esPath, a.webPath)
	waitPodsHolding(t, waitReplicaSets(t, ns, 1)[0], 2, v1)
	return a, v1
}

// rotate changes the value in the vault and returns the new version once
// synced and pinned on web.
func (a *fluxApp) rotate(t *testing.T, password, previous string) string {
	t.Helper()
	operator.SetFakeStoreData(t, env.Client, a.store, fixtures.FakeData("db", `{"password":"`+password+`"}`)...)
	operator.ForceSync(t, env.Client, a.es)
	next := operator.WaitSynced(t, env.Client, a.es, previous).Status.CurrentSecretName
	waitPinned(t, a.namespace, next)
	return next
}
