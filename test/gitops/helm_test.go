package gitops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/ssa/jsondiff"
	ssautil "github.com/fluxcd/pkg/ssa/utils"

	"github.com/vaultferry/vaultferry/controllers/podrefs"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// helmController is what Flux's helm-controller does to a HelmRelease's
// objects: install and upgrade with Helm's own client (Helm 3: a three-way
// merge of the last release's manifest, the new one and the live object),
// and drift detection with fluxcd/pkg/ssa/jsondiff and the options
// helm-controller passes it (internal/action/diff.go).
type helmController struct {
	t                    *testing.T
	namespace, chartPath string
}

// newHelmRelease writes a chart holding web's Deployment, with a label the
// release's values set.
func newHelmRelease(t *testing.T, namespace string) helmController {
	dir := t.TempDir()
	deploymentTemplate := strings.Replace(webManifest(namespace), "  name: web\n", "  name: web\n  labels: {release-note: \"{{ .Values.note }}\"}\n", 1)
	for path, content := range map[string]string{
		"Chart.yaml":         "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"templates/web.yaml": deploymentTemplate,
		"values.yaml":        "note: first\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return helmController{t: t, namespace: namespace, chartPath: dir}
}

// upgrade is a HelmRelease reconcile after a values change.
func (h helmController) upgrade(note string) {
	h.t.Helper()
	testenv.Helm(h.t, "upgrade", "--install", "web", h.chartPath, "--kubeconfig", env.Kubeconfig, "--namespace", h.namespace, "--set", "note="+note)
}

// drift is helm-controller's drift detection over the release's manifest:
// the objects it would correct ("" when none).
func (h helmController) drift() string {
	h.t.Helper()
	manifest := testenv.Helm(h.t, "get", "manifest", "web", "--kubeconfig", env.Kubeconfig, "--namespace", h.namespace)
	objects, err := ssautil.ReadObjects(strings.NewReader(manifest))
	if err != nil {
		h.t.Fatal(err)
	}
	set, err := jsondiff.UnstructuredList(context.Background(), env.Client, objects,
		jsondiff.FieldOwner("helm-controller"),
		jsondiff.ExclusionSelector{"helm.toolkit.fluxcd.io/driftDetection": "disabled"},
		jsondiff.Rationalize(true),
		jsondiff.Graceful(true))
	if err != nil {
		h.t.Fatalf("helm-controller drift detection: %v", err)
	}
	var drifted []string
	for _, d := range set {
		if d.Type != jsondiff.DiffTypeNone {
			drifted = append(drifted, string(d.Type)+" "+d.GetName())
		}
	}
	return strings.Join(drifted, ", ")
}

// A Deployment installed by a HelmRelease: rotation pins it, an undo
// stays through the next upgrade, and helm-controller's drift detection
// sees no drift in the pins (they are in no release manifest, so Helm's
// three-way merge never removes them).
func TestHelmReleaseKeepsPins(t *testing.T) {
	start(t)
	ns := env.Namespace(t, nil)
	store := operator.ReadyFakeStore(t, env.Client, ns, "store", fixtures.FakeData("db", `{"password":"k1"}`)...)
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithTarget("db-credentials"), fixtures.WithHistory(1))
	operator.Create(t, env.Client, es)
	v1 := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	waitIndexed(t, ns, "db-credentials", v1)

	release := newHelmRelease(t, ns)
	release.upgrade("first")
	waitPodsHolding(t, waitReplicaSets(t, ns, 1)[0], 2, v1)
	operator.SetFakeStoreData(t, env.Client, store, fixtures.FakeData("db", `{"password":"k2"}`)...)
	operator.ForceSync(t, env.Client, es)
	v2 := operator.WaitSynced(t, env.Client, es, v1).Status.CurrentSecretName
	waitPinned(t, ns, v2)
	waitReplicaSets(t, ns, 2)
	if drift := release.drift(); drift != "" {
		t.Errorf("drift after the operator's rollout: %s", drift)
	}

	env.MustKubectl(t, "-n", ns, "rollout", "undo", "deployment/web")
	waitPinned(t, ns, v1)
	release.upgrade("second")
	d := deployment(t, ns, "web")
	if d.Labels["release-note"] != "second" {
		t.Fatalf("the upgrade was not applied: labels %v", d.Labels)
	}
	if got := d.Spec.Template.Annotations[podrefs.PinAnnotation("db-credentials")]; got != v1 {
		t.Errorf("pin after a Helm upgrade = %s, want the undone-to %s", got, v1)
	}
	if got := len(replicaSets(t, ns, "web")); got != 2 {
		t.Errorf("%d ReplicaSets after undo and upgrade, want 2", got)
	}
	if drift := release.drift(); drift != "" {
		t.Errorf("drift after undo and upgrade: %s", drift)
	}
	// The detection sees what is drift: a label of the chart edited by hand.
	env.MustKubectl(t, "-n", ns, "label", "--overwrite", "deployment/web", "release-note=edited")
	if drift := release.drift(); drift != "update web" {
		t.Errorf("drift after editing a chart label = %q, want update web", drift)
	}
}
