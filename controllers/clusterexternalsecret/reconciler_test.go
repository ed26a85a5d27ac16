package clusterexternalsecret_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// One ClusterExternalSecret fans out to the namespaces its selectors match
// (ORed), follows label changes both ways, undoes a tenant's edit, never
// takes over a tenant's own ExternalSecret of the same name, leaves each
// ExternalSecret to its store's tenancy rules for its own namespace, reports
// all of it in status and metrics, and takes its ExternalSecrets with it
// when deleted. The operator runs with its shipped RBAC.
func TestClusterExternalSecretFansOut(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	operator.StartWithShippedRBAC(t, env, controllers.Config{Registry: providers.MustNewRegistry(fake.New()), Metrics: metrics.New(reg)})
	run := strings.ToLower(t.Name()[len(t.Name())-8:])
	fanout := map[string]string{"fanout-" + run: "yes"}
	tenant := map[string]string{"tenant-" + run: "true"}
	a, b := env.Namespace(t, merge(fanout, tenant)), env.Namespace(t, merge(fanout, tenant))
	outsider := env.Namespace(t, fanout) // selected, but the store does not admit it
	conflict := env.Namespace(t, merge(fanout, tenant))
	later := env.Namespace(t, tenant) // selected once it gets the label of the second selector

	store := fixtures.FakeClusterStore("shared-"+run, []vfv1alpha1.ClusterSecretStoreCondition{{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: tenant}, AllowedKeys: []string{"shared/*"},
	}}, fixtures.FakeData("shared/pull", `{"token":"pull-token-value"}`)...)
	own := fixtures.ExternalSecret(conflict, "pull", fixtures.WithStore(vfv1alpha1.ClusterSecretStoreKind, store.Name),
		fixtures.WithData("mine", "shared/pull", "token"))
	operator.Create(t, env.Client, store, own)

	// Applied as YAML, as a user would: without target or refreshPolicy, so
	// the ExternalSecrets hold defaults the ClusterExternalSecret does not.
	manifest := filepath.Join(t.TempDir(), "ces.yaml")
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf(`
apiVersion: vaultferry.io/v1alpha1
kind: ClusterExternalSecret
metadata: {name: pull-%[1]s}
spec:
  externalSecretName: pull
  externalSecretMetadata: {labels: {team: platform}}
  namespaceSelectors: [{matchLabels: {fanout-%[1]s: "yes"}}, {matchLabels: {late-%[1]s: "yes"}}]
  externalSecretSpec:
    secretStoreRef: {kind: ClusterSecretStore, name: %[2]s}
    refreshInterval: 10m
    dataFrom:
    - find: {path: shared/}
      rewrite: [{regexp: {source: "^shared/", target: ""}}]
`, run, store.Name)), 0o600); err != nil {
		t.Fatal(err)
	}
	env.MustKubectl(t, "apply", "-f", manifest)
	ces := &vfv1alpha1.ClusterExternalSecret{ObjectMeta: metav1.ObjectMeta{Name: "pull-" + run}}

	for _, ns := range []string{a, b} {
		if got := operator.SyncedValue(t, env.Client, inNamespace(ns), "pull"); got != `{"token":"pull-token-value"}` {
			t.Fatalf("%s: synced %q", ns, got)
		}
	}
	// Once the ExternalSecrets have synced, only the outsider's is not synced.
	got := waitStatus(t, ces, func(st vfv1alpha1.ClusterExternalSecretStatus) bool {
		return len(st.ProvisionedNamespaces) == 3 && len(st.FailedNamespaces) == 1 && slices.Equal(st.NotSyncedNamespaces, []string{outsider})
	})
	if f := got.Status.FailedNamespaces[0]; f.Namespace != conflict || f.Reason != vfv1alpha1.NameConflictReason || !strings.Contains(f.Message, "did not create") {
		t.Errorf("failed namespace: %+v", f)
	}
	if ready := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition); ready.Status != metav1.ConditionFalse || ready.Reason != vfv1alpha1.PartiallyProvisionedReason {
		t.Errorf("Ready: %+v", ready)
	}
	forbidden := operator.WaitForReason(t, env.Client, inNamespace(outsider), metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)
	if forbidden.Labels["team"] != "platform" || forbidden.Labels[vfv1alpha1.ClusterExternalSecretLabel] != ces.Name {
		t.Errorf("labels of a created ExternalSecret: %v", forbidden.Labels)
	}
	mine := &vfv1alpha1.ExternalSecret{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(own), mine); err != nil || mine.Spec.Data[0].SecretKey != "mine" || len(mine.OwnerReferences) != 0 {
		t.Errorf("the tenant's own ExternalSecret was changed: %v %+v", err, mine.Spec.Data)
	}
	for state, want := range map[string]float64{metrics.FanOutProvisioned: 2, metrics.FanOutNotSynced: 1, metrics.FanOutFailed: 1} {
		if v := operator.MetricValue(t, reg, "vaultferry_clusterexternalsecret_namespaces", map[string]string{"name": ces.Name, "state": state}); v != want {
			t.Errorf("namespaces %s = %v, want %v", state, v, want)
		}
	}

	// A tenant's edit is undone; a label added selects, a label removed deselects.
	operator.Update(t, env.Client, inNamespace(a), func(es *vfv1alpha1.ExternalSecret) { es.Spec.DataFrom[0].Rewrite = nil })
	operator.WaitFor(t, env.Client, inNamespace(a), "the edit undone", func(es *vfv1alpha1.ExternalSecret) bool { return len(es.Spec.DataFrom[0].Rewrite) == 1 })
	labelNamespace(t, later, "late-"+run, "yes")
	labelNamespace(t, b, "fanout-"+run, "")
	if got := operator.SyncedValue(t, env.Client, inNamespace(later), "pull"); got != `{"token":"pull-token-value"}` {
		t.Fatalf("newly selected namespace synced %q", got)
	}
	operator.WaitGone(t, env.Client, inNamespace(b))
	waitStatus(t, ces, func(st vfv1alpha1.ClusterExternalSecretStatus) bool {
		return slices.Contains(st.ProvisionedNamespaces, later) && !slices.Contains(st.ProvisionedNamespaces, b)
	})

	// Deleting the ClusterExternalSecret deletes what it created, nothing else.
	if err := env.Client.Delete(ctx, ces); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{a, later, outsider} {
		operator.WaitGone(t, env.Client, inNamespace(ns))
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(own), mine); err != nil {
		t.Errorf("the tenant's own ExternalSecret went with the ClusterExternalSecret: %v", err)
	}
}

// A namespace administrator (the built-in admin ClusterRole, bound in their
// namespace) cannot create a ClusterExternalSecret: it is cluster-scoped,
// and the shipped roles aggregate nothing about it into admin or edit.
func TestNamespaceAdminsCannotCreateClusterExternalSecrets(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	ns := env.Namespace(t, nil)
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}}}
	operator.Create(t, env.Client, binding)
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:authenticated"}}
	alice, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	es := fixtures.ExternalSecret("", "")
	ces := &vfv1alpha1.ClusterExternalSecret{ObjectMeta: metav1.ObjectMeta{Name: "alice-" + ns}, Spec: vfv1alpha1.ClusterExternalSecretSpec{
		ExternalSecretSpec: es.Spec, NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}}}
	if err := alice.Create(ctx, ces); !apierrors.IsForbidden(err) {
		t.Fatalf("a namespace admin creating a ClusterExternalSecret: %v, want Forbidden", err)
	}
	// The same binding lets alice manage her namespace (the test is not refusing everything).
	if err := alice.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ok"}}); err != nil {
		t.Fatalf("alice cannot use her namespace: %v", err)
	}
}

func inNamespace(ns string) *vfv1alpha1.ExternalSecret {
	return &vfv1alpha1.ExternalSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pull"}}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// labelNamespace sets a label, or removes it when value is empty.
func labelNamespace(t *testing.T, name, key, value string) {
	t.Helper()
	operator.Update(t, env.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, func(ns *corev1.Namespace) {
		if value == "" {
			delete(ns.Labels, key)
			return
		}
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[key] = value
	})
}

func waitStatus(t *testing.T, ces *vfv1alpha1.ClusterExternalSecret, ok func(vfv1alpha1.ClusterExternalSecretStatus) bool) *vfv1alpha1.ClusterExternalSecret {
	t.Helper()
	return operator.WaitFor(t, env.Client, ces.DeepCopy(), "ClusterExternalSecret status", func(c *vfv1alpha1.ClusterExternalSecret) bool { return ok(c.Status) })
}
