package vault_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/vault"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

const readPolicy = `path "secret/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }`

func startAll(t *testing.T) *vaultdev.Server {
	t.Helper()
	testenv.Require(t, env)
	v := vaultdev.Start(t)
	v.Write(t, "sys/policies/acl/read", map[string]any{"policy": readPolicy})
	operator.StartWithShippedRBAC(t, env, controllers.Config{Registry: providers.MustNewRegistry(vault.New())})
	return v
}

func vaultStore(ns, server string, auth vfv1alpha1.VaultAuth) *vfv1alpha1.SecretStore {
	return &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault"},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{
			Server: server, Path: "secret", Version: vfv1alpha1.VaultKVv2, Auth: auth}}}}
}

func vaultES(ns, name, key, property string) *vfv1alpha1.ExternalSecret {
	return fixtures.ExternalSecret(ns, name, fixtures.WithStore(vfv1alpha1.SecretStoreKind, "vault"), fixtures.WithData("password", key, property))
}

// appRoleStore enables AppRole, creates a role with the read policy and a
// secret id, and returns a store logging in with them.
func appRoleStore(t *testing.T, v *vaultdev.Server, ns string) *vfv1alpha1.SecretStore {
	t.Helper()
	roleID, secretID := v.AppRole(t, "vaultferry", map[string]any{"token_policies": "read", "token_ttl": "1h"})
	operator.Create(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "approle"},
		StringData: map[string]string{"secret-id": secretID}})
	return vaultStore(ns, v.Addr, vfv1alpha1.VaultAuth{AppRole: &vfv1alpha1.VaultAppRole{
		RoleID: roleID, SecretRef: vfv1alpha1.SecretKeySelector{Name: "approle", Key: "secret-id"}}})
}

func TestKVv2SyncRotatePinAndKVv1(t *testing.T) {
	v := startAll(t)
	ns := env.Namespace(t, nil)
	first := v.PutKV(t, "apps/db", map[string]any{"password": "vault-one", "nested": map[string]any{"user": "app"}})
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vault-token"}, StringData: map[string]string{"token": vaultdev.RootToken}}
	store := vaultStore(ns, v.Addr, vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token"}})
	es := vaultES(ns, "db", "apps/db", "password")
	nested := vaultES(ns, "nested", "apps/db", "nested.user")
	operator.Create(t, env.Client, creds, store, es, nested)

	synced := operator.WaitSynced(t, env.Client, es, "")
	v1 := synced.Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, v1)["password"]); got != "vault-one" {
		t.Fatalf("synced %q", got)
	}
	if synced.Status.Versions[0].SourceVersions["apps/db"] != first {
		t.Errorf("KV version not recorded: %+v", synced.Status.Versions[0].SourceVersions)
	}
	if got := operator.SyncedValue(t, env.Client, nested, "password"); got != "app" {
		t.Errorf("dotted property gave %q", got)
	}

	// Rotation: a new KV version gives a new immutable version; the old one stays.
	v.PutKV(t, "apps/db", map[string]any{"password": "vault-two"})
	operator.ForceSync(t, env.Client, es)
	v2 := operator.WaitSynced(t, env.Client, es, v1).Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, v2)["password"]); got != "vault-two" {
		t.Fatalf("after rotation %q", got)
	}
	operator.SecretData(t, env.Client, ns, v1) // still there

	// Pinned KV version.
	pinned := vaultES(ns, "pinned", "apps/db", "password")
	pinned.Spec.Data[0].RemoteRef.Version = first
	operator.Create(t, env.Client, pinned)
	if got := operator.SyncedValue(t, env.Client, pinned, "password"); got != "vault-one" {
		t.Errorf("pinned version gave %q", got)
	}

	// KV v1.
	v.Write(t, "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	v.Write(t, "kv1/legacy", map[string]any{"password": "v1-value"})
	storeV1 := vaultStore(ns, v.Addr, vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token"}})
	storeV1.Name, storeV1.Spec.Provider.Vault.Path, storeV1.Spec.Provider.Vault.Version = "vault-v1", "kv1", vfv1alpha1.VaultKVv1
	legacy := fixtures.ExternalSecret(ns, "legacy", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "vault-v1"), fixtures.WithData("password", "legacy", "password"))
	operator.Create(t, env.Client, storeV1, legacy)
	if got := operator.SyncedValue(t, env.Client, legacy, "password"); got != "v1-value" {
		t.Errorf("KV v1 gave %q", got)
	}
	operator.AssertNoLeak(t, env.Client, ns, "vault-one", "vault-two", vaultdev.RootToken)
}

// 50 ExternalSecrets on one AppRole store: Vault's own audit log shows one login.
func TestAppRoleLogsInOnceForFiftyExternalSecrets(t *testing.T) {
	v := startAll(t)
	ns := env.Namespace(t, nil)
	v.PutKV(t, "apps/shared", map[string]any{"password": "shared"})
	store := appRoleStore(t, v, ns)
	operator.Create(t, env.Client, store)
	ess := make([]*vfv1alpha1.ExternalSecret, 50)
	for i := range ess {
		ess[i] = vaultES(ns, fmt.Sprintf("app-%d", i), "apps/shared", "password")
		operator.Create(t, env.Client, ess[i])
	}
	for _, es := range ess {
		operator.WaitSynced(t, env.Client, es, "")
	}
	if n := v.Logins(t, "approle"); n != 1 {
		t.Fatalf("Vault's audit log shows %d AppRole logins for 50 syncs, want 1", n)
	}
	reads := v.Requests(t, "secret/data/apps/shared")
	t.Logf("50 syncs of one key made %d reads", reads)
}

// Kubernetes auth against the envtest API server: Vault reviews the tenant
// ServiceAccount's TokenRequest token with TokenReview.
func TestKubernetesAuthWithTenantServiceAccount(t *testing.T) {
	v := startAll(t)
	ns := env.Namespace(t, nil)
	v.PutKV(t, "apps/k8s", map[string]any{"password": "from-k8s-auth"})

	operator.Create(t, env.Client, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}})
	enableKubernetesAuth(t, v, ns)
	v.Write(t, "auth/kubernetes/role/tenant", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": ns, "token_policies": "read", "token_ttl": "1h",
	})
	store := vaultStore(ns, v.Addr, vfv1alpha1.VaultAuth{Kubernetes: &vfv1alpha1.VaultKubernetesAuth{
		Role: "tenant", ServiceAccountRef: &vfv1alpha1.ServiceAccountSelector{Name: "app"}}})
	es := vaultES(ns, "k8s", "apps/k8s", "password")
	operator.Create(t, env.Client, store, es)
	if got := operator.SyncedValue(t, env.Client, es, "password"); got != "from-k8s-auth" {
		t.Fatalf("synced %q", got)
	}
	if n := v.Logins(t, "kubernetes"); n != 1 {
		t.Errorf("%d kubernetes logins, want 1", n)
	}

	// Another ServiceAccount of the namespace is refused by Vault's role binding.
	other := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "intruder"}}
	operator.Create(t, env.Client, other)
	refused := vaultStore(ns, v.Addr, vfv1alpha1.VaultAuth{Kubernetes: &vfv1alpha1.VaultKubernetesAuth{
		Role: "tenant", ServiceAccountRef: &vfv1alpha1.ServiceAccountSelector{Name: "intruder"}}})
	refused.Name = "intruder-store"
	operator.Create(t, env.Client, refused)
	operator.WaitFor(t, env.Client, refused, "Forbidden", func(s *vfv1alpha1.SecretStore) bool {
		return operator.HasReason(s.Status.Conditions, metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)
	})
}

// Sealing Vault makes syncs Unavailable and deletes nothing; unsealing recovers.
func TestSealedVaultIsUnavailableThenRecovers(t *testing.T) {
	v := startAll(t)
	ns := env.Namespace(t, nil)
	v.PutKV(t, "apps/seal", map[string]any{"password": "before-seal"})
	store := appRoleStore(t, v, ns)
	es := vaultES(ns, "seal", "apps/seal", "password")
	operator.Create(t, env.Client, store, es)
	current := operator.WaitSynced(t, env.Client, es, "").Status.CurrentSecretName
	key := v.UnsealKey(t)

	v.Seal(t)
	operator.ForceSync(t, env.Client, es)
	got := operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, vfv1alpha1.UnavailableReason)
	if cond := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition); cond == nil || !contains(cond.Message, "sealed") {
		t.Errorf("the condition does not say Vault is sealed: %+v", cond)
	}
	if string(operator.SecretData(t, env.Client, ns, current)["password"]) != "before-seal" {
		t.Fatal("the synced version changed while Vault was sealed")
	}

	v.Unseal(t, key)
	v.PutKV(t, "apps/seal", map[string]any{"password": "after-unseal"})
	operator.ForceSync(t, env.Client, es)
	next := operator.WaitSynced(t, env.Client, es, current).Status.CurrentSecretName
	if string(operator.SecretData(t, env.Client, ns, next)["password"]) != "after-unseal" {
		t.Fatal("did not recover after unseal")
	}
	list := &corev1.SecretList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{vfv1alpha1.ExternalSecretLabel: "seal"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Errorf("%d versions after the outage, want 2 (before and after)", len(list.Items))
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// Two tenants share one ClusterSecretStore with Kubernetes auth: each logs in
// as its own ServiceAccount, and Vault's policy (templated on the
// ServiceAccount's namespace) lets A read A's path and refuses B's.
func TestClusterStoreTenantsAuthenticateAsThemselves(t *testing.T) {
	v := startAll(t)
	a, b := env.Namespace(t, nil), env.Namespace(t, nil)
	v.PutKV(t, "tenants/"+a+"/db", map[string]any{"password": "secret-of-a"})
	v.PutKV(t, "tenants/"+b+"/db", map[string]any{"password": "secret-of-b"})

	operator.Create(t, env.Client,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: a, Name: "vault-reader"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: b, Name: "vault-reader"}})
	enableKubernetesAuth(t, v, a)
	mounts, err := v.Client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	accessor := mounts["kubernetes/"].Accessor
	v.Write(t, "sys/policies/acl/own-tenant", map[string]any{"policy": fmt.Sprintf(
		`path "secret/data/tenants/{{identity.entity.aliases.%s.metadata.service_account_namespace}}/*" { capabilities = ["read"] }`, accessor)})
	v.Write(t, "auth/kubernetes/role/tenant", map[string]any{
		"bound_service_account_names": "vault-reader", "bound_service_account_namespaces": a + "," + b,
		"token_policies": "own-tenant", "token_ttl": "1h",
	})
	store := &vfv1alpha1.ClusterSecretStore{ObjectMeta: metav1.ObjectMeta{Name: "shared-vault-" + a},
		Spec: fixtures.Declared(vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{
			Server: v.Addr, Auth: vfv1alpha1.VaultAuth{Kubernetes: &vfv1alpha1.VaultKubernetesAuth{
				Role: "tenant", ServiceAccountRef: &vfv1alpha1.ServiceAccountSelector{Name: "vault-reader"}}}}}})}
	useShared := fixtures.WithStore(vfv1alpha1.ClusterSecretStoreKind, store.Name)
	own := fixtures.ExternalSecret(a, "own", useShared, fixtures.WithData("password", "tenants/"+a+"/db", "password"))
	other := fixtures.ExternalSecret(a, "other", useShared, fixtures.WithData("password", "tenants/"+b+"/db", "password"))
	bOwn := fixtures.ExternalSecret(b, "own", useShared, fixtures.WithData("password", "tenants/"+b+"/db", "password"))
	operator.Create(t, env.Client, store, own, other, bOwn)

	if got := operator.SyncedValue(t, env.Client, own, "password"); got != "secret-of-a" {
		t.Fatalf("tenant A read %q from its own path", got)
	}
	if got := operator.SyncedValue(t, env.Client, bOwn, "password"); got != "secret-of-b" {
		t.Fatalf("tenant B read %q from its own path", got)
	}
	refused := operator.WaitForReason(t, env.Client, other, metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)
	if refused.Status.CurrentSecretName != "" {
		t.Fatal("tenant A got a Secret from tenant B's path")
	}
	if n := v.Logins(t, "kubernetes"); n != 2 {
		t.Errorf("%d Kubernetes logins, want 2: one per tenant identity", n)
	}
	operator.AssertNoLeak(t, env.Client, a, "secret-of-a", "secret-of-b")
}

// enableKubernetesAuth points Vault's Kubernetes auth method at the envtest
// API server, reviewing tokens as a ServiceAccount in namespace bound to
// system:auth-delegator.
func enableKubernetesAuth(t *testing.T, v *vaultdev.Server, namespace string) {
	t.Helper()
	reviewer := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "vault-reviewer"}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vault-reviewer-" + namespace},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vault-reviewer", Namespace: namespace}}}
	operator.Create(t, env.Client, reviewer, binding)
	tr := &authenticationv1.TokenRequest{}
	if err := env.Client.SubResource("token").Create(context.Background(), reviewer, tr); err != nil {
		t.Fatal(err)
	}
	v.Write(t, "sys/auth/kubernetes", map[string]any{"type": "kubernetes"})
	v.Write(t, "auth/kubernetes/config", map[string]any{
		"kubernetes_host": env.Config.Host, "kubernetes_ca_cert": string(env.Config.CAData), "token_reviewer_jwt": tr.Status.Token,
	})
}

// Vault paths are case-sensitive, so allowedKeys are too: with
// "tenants/{namespace}/*", a tenant cannot read "TENANTS/<NS>/db" from KV v2
// or "Tenants/<ns>/db" from KV v1 (other secrets than its own, in Vault), and
// Vault never receives the request.
func TestAllowedKeysCompareCaseAsVaultDoes(t *testing.T) {
	v := startAll(t)
	a := env.Namespace(t, nil)
	upper := "TENANTS/" + strings.ToUpper(a) + "/db"
	v.PutKV(t, "tenants/"+a+"/db", map[string]any{"password": "own-value"})
	v.PutKV(t, upper, map[string]any{"password": "upper-case-value"})
	v.Write(t, "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	v.Write(t, "kv1/Tenants/"+a+"/db", map[string]any{"password": "kv1-value"})
	operator.Create(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: a, Name: "vault-token"},
		StringData: map[string]string{"token": vaultdev.RootToken}})

	conditions := []vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{a}, AllowedKeys: []string{"tenants/{namespace}/*", "Tenants/{namespace}/public"}}}
	clusterStore := func(name, path string, version vfv1alpha1.VaultKVVersion) *vfv1alpha1.ClusterSecretStore {
		return &vfv1alpha1.ClusterSecretStore{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + a}, Spec: fixtures.Declared(vfv1alpha1.SecretStoreSpec{
			Conditions: conditions,
			Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{Server: v.Addr, Path: path, Version: version,
				Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token", Namespace: a}}}}})}
	}
	kv2, kv1 := clusterStore("kv2", "secret", vfv1alpha1.VaultKVv2), clusterStore("kv1", "kv1", vfv1alpha1.VaultKVv1)
	es := func(name string, store *vfv1alpha1.ClusterSecretStore, key string) *vfv1alpha1.ExternalSecret {
		return fixtures.ExternalSecret(a, name, fixtures.WithStore(vfv1alpha1.ClusterSecretStoreKind, store.Name), fixtures.WithData("password", key, "password"))
	}
	own, upperCase, mixedCase := es("own", kv2, "tenants/"+a+"/db"), es("upper", kv2, upper), es("mixed", kv1, "Tenants/"+a+"/db")
	outside := []string{"secret/data/TENANTS", "kv1/Tenants"}
	written := map[string]int{} // by the setup above
	for _, path := range outside {
		written[path] = v.Requests(t, path)
	}
	operator.Create(t, env.Client, kv2, kv1, own, upperCase, mixedCase)

	if got := operator.SyncedValue(t, env.Client, own, "password"); got != "own-value" {
		t.Fatalf("the tenant's own key gave %q", got)
	}
	for _, refused := range []*vfv1alpha1.ExternalSecret{upperCase, mixedCase} {
		got := operator.WaitForReason(t, env.Client, refused, metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)
		if msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, "is outside the keys") {
			t.Errorf("%s: %s", refused.Name, msg)
		}
	}
	for _, path := range outside {
		if n := v.Requests(t, path) - written[path]; n != 0 {
			t.Errorf("Vault received %d requests for %s", n, path)
		}
	}
	operator.AssertNoLeak(t, env.Client, a, "own-value", "upper-case-value", "kv1-value")
}

// dataFrom.find through a ClusterSecretStore with allowedKeys, against the
// real Vault: a find over the whole tenants/ tree returns only the
// namespace's own keys; the other tenant's keys are never read (the audit
// log) and never named (status, events, logs); tags, rewrite, the cap and
// a rewrite collision each end as a user would expect.
func TestFindThroughAClusterStoreReadsOnlyAllowedKeys(t *testing.T) {
	v := startAll(t)
	a, b := env.Namespace(t, nil), env.Namespace(t, nil)
	v.PutKV(t, "tenants/"+a+"/app/db", map[string]any{"password": "a-db-value"})
	v.PutKV(t, "tenants/"+a+"/app/api", map[string]any{"token": "a-api-value"})
	v.TagKV(t, "tenants/"+a+"/app/api", map[string]string{"tier": "edge"})
	v.PutKV(t, "tenants/"+b+"/app/db", map[string]any{"password": "b-db-value"})
	v.TagKV(t, "tenants/"+b+"/app/db", map[string]string{"tier": "edge"})
	operator.Create(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: a, Name: "vault-token"},
		StringData: map[string]string{"token": vaultdev.RootToken}})
	store := &vfv1alpha1.ClusterSecretStore{ObjectMeta: metav1.ObjectMeta{Name: "find-" + a}, Spec: fixtures.Declared(vfv1alpha1.SecretStoreSpec{
		Conditions: []vfv1alpha1.ClusterSecretStoreCondition{{Namespaces: []string{a}, AllowedKeys: []string{"tenants/{namespace}/**"}}},
		Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{Server: v.Addr, Path: "secret", Version: vfv1alpha1.VaultKVv2,
			Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token", Namespace: a}}}}})}
	find := func(name string, f vfv1alpha1.ExternalSecretFind, rewrite ...vfv1alpha1.ExternalSecretRewrite) *vfv1alpha1.ExternalSecret {
		return fixtures.ExternalSecret(a, name, fixtures.WithStore(vfv1alpha1.ClusterSecretStoreKind, store.Name), fixtures.WithFind(f, rewrite...))
	}
	path := func(p string) *string { return &p }
	stripPrefix := vfv1alpha1.ExternalSecretRewrite{Regexp: &vfv1alpha1.RewriteRegexp{Source: "^tenants/[^/]+/app/", Target: ""}}
	everything := find("everything", vfv1alpha1.ExternalSecretFind{Path: path("tenants")})
	rewritten := find("rewritten", vfv1alpha1.ExternalSecretFind{Path: path("tenants"), Name: &vfv1alpha1.FindName{RegExp: "/app/"}},
		stripPrefix, vfv1alpha1.ExternalSecretRewrite{Transform: &vfv1alpha1.RewriteTransform{Template: "{{ .value | upper }}_JSON"}})
	tagged := find("tagged", vfv1alpha1.ExternalSecretFind{Path: path("tenants"), Tags: map[string]string{"tier": "edge"}}, stripPrefix)
	capped := find("capped", vfv1alpha1.ExternalSecretFind{Path: path("tenants/" + a), MaxKeys: 2}, stripPrefix)
	collide := find("collide", vfv1alpha1.ExternalSecretFind{Path: path("tenants")},
		vfv1alpha1.ExternalSecretRewrite{Regexp: &vfv1alpha1.RewriteRegexp{Source: ".*", Target: "same"}})
	otherReads := v.Requests(t, "secret/data/tenants/"+b) + v.Requests(t, "secret/metadata/tenants/"+b)
	operator.Create(t, env.Client, store, everything, rewritten, tagged, capped, collide)

	want := map[*vfv1alpha1.ExternalSecret]map[string]string{
		everything: {"tenants_" + a + "_app_db": `{"password":"a-db-value"}`, "tenants_" + a + "_app_api": `{"token":"a-api-value"}`},
		rewritten:  {"DB_JSON": `{"password":"a-db-value"}`, "API_JSON": `{"token":"a-api-value"}`},
		tagged:     {"api": `{"token":"a-api-value"}`},
		capped:     {"db": `{"password":"a-db-value"}`, "api": `{"token":"a-api-value"}`},
	}
	for es, data := range want {
		synced := operator.WaitSynced(t, env.Client, es, "")
		got := operator.SecretData(t, env.Client, a, synced.Status.CurrentSecretName)
		if len(got) != len(data) {
			t.Errorf("%s: Secret keys %v, want %v", es.Name, keysOf(got), data)
		}
		for k, val := range data {
			if string(got[k]) != val {
				t.Errorf("%s: key %q = %q, want %q", es.Name, k, got[k], val)
			}
		}
	}
	collided := operator.WaitForReason(t, env.Client, collide, metav1.ConditionFalse, vfv1alpha1.InvalidDataReason)
	if msg := operator.Condition(collided.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, `both become Secret key "same"`) {
		t.Errorf("collision: %s", msg)
	}

	// A third key makes the capped find too large: the sync fails with a
	// message that says what to do, and the current version stays.
	cappedVersion := operator.WaitSynced(t, env.Client, capped, "").Status.CurrentSecretName
	v.PutKV(t, "tenants/"+a+"/app/cache", map[string]any{"url": "redis://a"})
	operator.ForceSync(t, env.Client, capped)
	over := operator.WaitForReason(t, env.Client, capped, metav1.ConditionFalse, vfv1alpha1.InvalidDataReason)
	if msg := operator.Condition(over.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, "more than 2 keys (find.maxKeys)") {
		t.Errorf("cap: %s", msg)
	}
	if over.Status.CurrentSecretName != cappedVersion || len(operator.SecretData(t, env.Client, a, cappedVersion)) != 2 {
		t.Errorf("the capped ExternalSecret lost its version %s (now %q)", cappedVersion, over.Status.CurrentSecretName)
	}

	if n := v.Requests(t, "secret/data/tenants/"+b) + v.Requests(t, "secret/metadata/tenants/"+b) - otherReads; n != 0 {
		t.Errorf("Vault received %d reads of the other tenant's keys", n)
	}
	operator.AssertNoLeak(t, env.Client, a, "tenants/"+b, "a-db-value", "a-api-value", "b-db-value")
}

func keysOf(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }
