package vault_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

// A hostile tenant with the platform's ClusterSecretStore (root token, no
// allowedKeys: the state right after a migration from ESO) tries every
// path-taking field against the real Vault. The reproductions of the
// outside attack (a policy written through dynamic.path with "..", the
// store's token read through "x/../auth/token/lookup-self", another
// tenant's KV secret overwritten with method Write) and their variants are
// refused by the API server or stopped by a Forbidden condition; a
// granted path still works; Vault's audit log shows that nothing outside
// what the store declares was requested.
func TestHostileTenantGetsOnlyWhatTheStoreGrants(t *testing.T) {
	v := startAll(t)
	ctx := context.Background()
	a, b, platform := env.Namespace(t, nil), env.Namespace(t, nil), env.Namespace(t, nil)
	v.Write(t, "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	v.Write(t, "kv1/tenants/"+b+"/db", map[string]any{"password": "team-b-secret"})
	v.PutKV(t, "tenants/"+a+"/db", map[string]any{"password": "team-a-secret"})
	v.PKI(t, nil)
	operator.Create(t, env.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platform, Name: "vault-token"},
		StringData: map[string]string{"token": vaultdev.RootToken}})
	clusterStore := func(name string, dynamic []vfv1alpha1.DynamicGrant, conditions ...vfv1alpha1.ClusterSecretStoreCondition) *vfv1alpha1.ClusterSecretStore {
		return &vfv1alpha1.ClusterSecretStore{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + a}, Spec: fixtures.Declared(vfv1alpha1.SecretStoreSpec{
			Conditions: conditions, Dynamic: dynamic,
			Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{Server: v.Addr, Path: "secret", Version: vfv1alpha1.VaultKVv2,
				Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token", Namespace: platform}}}}})}
	}
	write := []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicWrite}
	migrated := clusterStore("migrated", nil, vfv1alpha1.ClusterSecretStoreCondition{Namespaces: []string{a, b}})
	granted := clusterStore("granted", []vfv1alpha1.DynamicGrant{{Path: "pki/issue/*", Methods: write}},
		vfv1alpha1.ClusterSecretStoreCondition{Namespaces: []string{a}, AllowedDynamic: []vfv1alpha1.DynamicGrant{{Path: "pki/issue/web", Methods: write}}},
		vfv1alpha1.ClusterSecretStoreCondition{Namespaces: []string{b}})
	operator.Create(t, env.Client, migrated, granted)
	mark := v.AuditMark(t)

	dynamic := func(ns, name string, store *vfv1alpha1.ClusterSecretStore, d vfv1alpha1.DynamicSource) *vfv1alpha1.ExternalSecret {
		es := dynamicES(ns, name, d)
		es.Spec.SecretStoreRef = vfv1alpha1.SecretStoreRef{Kind: vfv1alpha1.ClusterSecretStoreKind, Name: store.Name}
		return es
	}
	pwn := map[string]string{"policy": `path "*" { capabilities = ["sudo", "create", "update", "read"] }`}

	// Refused by the API server: the path is not canonical or names a system backend.
	for i, path := range []string{"secret/../sys/policy/pwn", "./sys/policy/pwn", "x/../auth/token/lookup-self", "secret//../sys/policy/pwn",
		"/sys/policy/pwn", "team/sys/policy/pwn", "pki/issue/web/../../../sys/policy/pwn", "%2e%2e/sys/policy/pwn", "sys\u2215policy\u2215pwn"} {
		es := dynamic(a, "refused-"+string(rune('a'+i)), migrated, vfv1alpha1.DynamicSource{Path: path, Method: "Write", Parameters: pwn})
		if err := env.Client.Create(ctx, es); err == nil || !strings.Contains(err.Error(), "dynamic.path") {
			t.Errorf("dynamic.path %q: created (%v), want the API server to refuse it", path, err)
		}
	}

	// Accepted by the schema, refused by the store's grants, with a
	// condition saying what to ask for.
	forbidden := []struct {
		es   *vfv1alpha1.ExternalSecret
		want string
	}{
		{dynamic(a, "overwrite-b", migrated, vfv1alpha1.DynamicSource{Path: "kv1/tenants/" + b + "/db", Method: "Write", Parameters: map[string]string{"password": "pwned"}}),
			`does not grant issuing from "kv1/tenants/` + b + `/db" with method Write`},
		{dynamic(a, "kv-write", migrated, vfv1alpha1.DynamicSource{Path: "secret/data/tenants/" + b + "/db", Method: "Write", Parameters: map[string]string{"password": "pwned"}}),
			"the store grants no dynamic paths"},
		{dynamic(a, "db-read", migrated, vfv1alpha1.DynamicSource{Path: "database/creds/app"}), "the store grants no dynamic paths"},
		{dynamic(a, "wrong-method", granted, vfv1alpha1.DynamicSource{Path: "pki/issue/web"}), "with method Read"},
		{dynamic(a, "other-role", granted, vfv1alpha1.DynamicSource{Path: "pki/issue/admin", PKI: &vfv1alpha1.PKICertificate{CommonName: "a.example.test"}}),
			`does not grant issuing from "pki/issue/admin"`},
		{dynamic(b, "not-for-b", granted, vfv1alpha1.DynamicSource{Path: "pki/issue/web", PKI: &vfv1alpha1.PKICertificate{CommonName: "b.example.test"}}),
			"no condition of the ClusterSecretStore admitting this namespace has allowedDynamic"},
	}
	for _, f := range forbidden {
		operator.Create(t, env.Client, f.es)
	}
	// Every path variant as a read key, an extracted key and a find path.
	var readers []*vfv1alpha1.ExternalSecret
	fromMigrated := fixtures.WithStore(vfv1alpha1.ClusterSecretStoreKind, migrated.Name)
	for i, p := range append(pathVariants, "../../auth/token/lookup-self", "tenants/../../../sys/policy/root") {
		readers = append(readers,
			fixtures.ExternalSecret(a, fmt.Sprintf("read-%d", i), fromMigrated, fixtures.WithData("id", p, "")),
			fixtures.ExternalSecret(a, fmt.Sprintf("extract-%d", i), fromMigrated, fixtures.WithExtract(p)),
			fixtures.ExternalSecret(a, fmt.Sprintf("find-%d", i), fromMigrated, fixtures.WithFind(vfv1alpha1.ExternalSecretFind{Path: ptr(p + "/")})))
	}
	for _, es := range readers {
		if err := env.Client.Create(ctx, es); err != nil {
			continue // refused by the schema: the earliest point
		}
		got := operator.WaitFor(t, env.Client, es, "a sync", func(es *vfv1alpha1.ExternalSecret) bool {
			return operator.Condition(es.Status.Conditions, vfv1alpha1.ReadyCondition) != nil
		})
		// A variant that stays inside the mount (SYS/policy/pwn is
		// secret/data/SYS/policy/pwn) may simply not be found; nothing
		// outside it may be read: the audit log below judges.
		if got.Status.CurrentSecretName != "" {
			t.Errorf("%s (%+v) synced %s", es.Name, es.Spec.Data, got.Status.CurrentSecretName)
		}
	}
	for _, f := range forbidden {
		got := operator.WaitForReason(t, env.Client, f.es, metav1.ConditionFalse, vfv1alpha1.ForbiddenReason)
		if msg := operator.Condition(got.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, f.want) {
			t.Errorf("%s: condition %q does not say %q", f.es.Name, msg, f.want)
		}
	}

	// What the store grants still works.
	ok := dynamic(a, "web", granted, vfv1alpha1.DynamicSource{Path: "pki/issue/web", PKI: &vfv1alpha1.PKICertificate{CommonName: "web.example.test"}})
	operator.Create(t, env.Client, ok)
	operator.WaitSynced(t, env.Client, ok, "")

	for _, r := range v.RequestsSince(t, mark) {
		inMount := strings.HasPrefix(r.Path, "secret/data/") || strings.HasPrefix(r.Path, "secret/metadata/")
		if !inMount && r.Path != "auth/token/lookup-self" && (r.Path != "pki/issue/web" || r.Operation != "update") {
			t.Errorf("Vault received %s %s", r.Operation, r.Path)
		}
	}
	if p, err := v.Client.Sys().GetPolicy("pwn"); err != nil || p != "" {
		t.Errorf("policy pwn exists (%q, %v)", p, err)
	}
	if s, err := v.Client.Logical().Read("kv1/tenants/" + b + "/db"); err != nil || s.Data["password"] != "team-b-secret" {
		t.Errorf("team b's secret changed: %v, %v", s, err)
	}
}

func ptr[T any](v T) *T { return &v }
