package chart

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// Tenants bound to the built-in roles in a namespace can use vaultferry
// there, as in Flux multi-tenancy: edit and admin manage ExternalSecrets and
// SecretStores, view reads them (and the TargetIndex), nobody gets the
// status subresource, the TargetIndex or the cluster-scoped kinds. Checked
// with impersonated users on the real API server, the roles aggregated by
// the real kube-controller-manager.
func TestTenantsUseTheBuiltInRoles(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	env.MustKubectl(t, "apply", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "tenant_roles.yaml"))
	ns, other := env.Namespace(t, nil), env.Namespace(t, nil)
	for user, role := range map[string]string{"alice": "edit", "carol": "admin", "bob": "view"} {
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
		if err := env.Client.Create(ctx, binding); err != nil {
			t.Fatal(err)
		}
	}
	as := func(user string) client.Client {
		cfg := rest.CopyConfig(env.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
		c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	store := func(namespace, name string) *vfv1alpha1.SecretStore {
		return &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: vfv1alpha1.SecretStoreSpec{
			Provider: vfv1alpha1.SecretStoreProvider{Fake: &vfv1alpha1.FakeProvider{}}}}
	}
	// The aggregation controller fills edit, admin and view in its own time.
	deadline := time.Now().Add(time.Minute)
	for as("alice").Create(ctx, fixtures.ExternalSecret(ns, "probe")) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("alice (edit) still cannot create an ExternalSecret:\n%s", env.ControllerManagerLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
	forbidden := apierrors.IsForbidden
	allowed := func(err error) bool { return err == nil }
	cases := []struct {
		what  string
		try   func() error
		wants func(error) bool
	}{
		{"edit creates a SecretStore", func() error { return as("alice").Create(ctx, store(ns, "s")) }, allowed},
		{"admin creates an ExternalSecret", func() error { return as("carol").Create(ctx, fixtures.ExternalSecret(ns, "c")) }, allowed},
		{"admin deletes an ExternalSecret", func() error { return as("carol").Delete(ctx, fixtures.ExternalSecret(ns, "c")) }, allowed},
		{"edit writes no status", func() error {
			es := &vfv1alpha1.ExternalSecret{}
			if err := as("alice").Get(ctx, client.ObjectKey{Namespace: ns, Name: "probe"}, es); err != nil {
				return err
			}
			es.Status.CurrentSecretName = "forged"
			return as("alice").Status().Update(ctx, es)
		}, forbidden},
		{"edit writes no TargetIndex", func() error {
			return as("alice").Create(ctx, &vfv1alpha1.TargetIndex{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: vfv1alpha1.TargetIndexName}})
		}, forbidden},
		{"edit creates no ClusterSecretStore", func() error {
			return as("alice").Create(ctx, &vfv1alpha1.ClusterSecretStore{ObjectMeta: metav1.ObjectMeta{Name: "mine-" + ns}, Spec: store("", "").Spec})
		}, forbidden},
		{"admin creates no ClusterExternalSecret", func() error {
			return as("carol").Create(ctx, &vfv1alpha1.ClusterExternalSecret{ObjectMeta: metav1.ObjectMeta{Name: "mine-" + ns}})
		}, forbidden},
		{"edit reaches no other namespace", func() error { return as("alice").Create(ctx, fixtures.ExternalSecret(other, "x")) }, forbidden},
		{"view lists ExternalSecrets", func() error { return as("bob").List(ctx, &vfv1alpha1.ExternalSecretList{}, client.InNamespace(ns)) }, allowed},
		{"view lists SecretStores", func() error { return as("bob").List(ctx, &vfv1alpha1.SecretStoreList{}, client.InNamespace(ns)) }, allowed},
		{"view lists TargetIndexes", func() error { return as("bob").List(ctx, &vfv1alpha1.TargetIndexList{}, client.InNamespace(ns)) }, allowed},
		{"view creates nothing", func() error { return as("bob").Create(ctx, fixtures.ExternalSecret(ns, "b")) }, forbidden},
		{"view reads no Secrets", func() error { return as("bob").List(ctx, &corev1.SecretList{}, client.InNamespace(ns)) }, forbidden},
	}
	for _, tc := range cases {
		if err := tc.try(); !tc.wants(err) {
			t.Errorf("%s: %v", tc.what, err)
		}
	}
	// The chart ships the same roles.
	rendered := helm(t, "template", "vaultferry", chartDir)
	for _, want := range []string{"rbac.authorization.k8s.io/aggregate-to-edit: \"true\"", "rbac.authorization.k8s.io/aggregate-to-view: \"true\""} {
		if !strings.Contains(rendered, want) {
			t.Errorf("the chart does not render %s", want)
		}
	}
}
