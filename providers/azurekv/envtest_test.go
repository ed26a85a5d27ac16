package azurekv_test

import (
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/azurekv"
	"github.com/vaultferry/vaultferry/test/azurefake"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

func startOperator(t *testing.T, fake *azurefake.Server) {
	t.Helper()
	testenv.Require(t, env)
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(newProvider(fake))})
}

func kvStore(ns string, fake *azurefake.Server, spec vfv1alpha1.AzureKVProvider) *vfv1alpha1.SecretStore {
	spec.VaultURL = fake.VaultURL("team")
	return &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kv"},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{AzureKV: &spec}}}
}

func TestSyncRotatePinAndFailures(t *testing.T) {
	fake := azurefake.New(tenant)
	t.Cleanup(fake.Close)
	fake.AddClient(clientID, clientSecret)
	startOperator(t, fake)
	ns := env.Namespace(t, nil)
	first := fake.Set("db", `{"password":"kv-one"}`)

	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sp"}, StringData: map[string]string{"id": clientID, "secret": clientSecret}}
	store := kvStore(ns, fake, vfv1alpha1.AzureKVProvider{TenantID: tenant, AuthType: vfv1alpha1.AzureServicePrincipal,
		AuthSecretRef: &vfv1alpha1.AzureAuthSecretRef{
			ClientID:     vfv1alpha1.SecretKeySelector{Name: "sp", Key: "id"},
			ClientSecret: &vfv1alpha1.SecretKeySelector{Name: "sp", Key: "secret"},
		}})
	es := fixtures.ExternalSecret(ns, "db", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "kv"), fixtures.WithData("password", "db", "password"))
	operator.Create(t, env.Client, creds, store, es)

	synced := operator.WaitSynced(t, env.Client, es, "")
	v1 := synced.Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, v1)["password"]); got != "kv-one" {
		t.Fatalf("synced %q", got)
	}
	if synced.Status.Versions[0].SourceVersions["db"] != first {
		t.Errorf("source version = %v, want the Key Vault version id %s", synced.Status.Versions[0].SourceVersions, first)
	}

	// Rotation: a new Key Vault version gives a new immutable version.
	fake.Set("db", `{"password":"kv-two"}`)
	operator.ForceSync(t, env.Client, es)
	v2 := operator.WaitSynced(t, env.Client, es, v1).Status.CurrentSecretName
	if got := string(operator.SecretData(t, env.Client, ns, v2)["password"]); got != "kv-two" {
		t.Fatalf("after rotation: %q", got)
	}

	// Pinning the first version id reads it.
	pinned := fixtures.ExternalSecret(ns, "db-pinned", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "kv"), fixtures.WithData("password", "db", "password"))
	pinned.Spec.Data[0].RemoteRef.Version = first
	operator.Create(t, env.Client, pinned)
	if got := operator.SyncedValue(t, env.Client, pinned, "password"); got != "kv-one" {
		t.Fatalf("pinned version gave %q", got)
	}

	cases := map[string]struct {
		breakIt func()
		reason  string
	}{
		"disabled": {func() { fake.Set("db", `{"password":"x"}`); fake.Disable("db") }, vfv1alpha1.NotFoundReason},
		"expired":  {func() { fake.Set("db", `{"password":"y"}`); fake.Expire("db", time.Now().Add(-time.Minute)) }, vfv1alpha1.NotFoundReason},
		"403":      {func() { fake.Fail("db", 403, "Forbidden", 0) }, vfv1alpha1.ForbiddenReason},
		"404":      {func() { fake.Fail("db", 404, "SecretNotFound", 0) }, vfv1alpha1.NotFoundReason},
		"429":      {func() { fake.Fail("db", 429, "Throttled", 1) }, vfv1alpha1.ThrottledReason},
	}
	for _, name := range []string{"disabled", "expired", "403", "404", "429"} {
		t.Run(name, func(t *testing.T) {
			cases[name].breakIt()
			defer fake.Fail("db", 0, "", 0)
			operator.ForceSync(t, env.Client, es)
			got := operator.WaitForReason(t, env.Client, es, metav1.ConditionFalse, cases[name].reason)
			if got.Status.CurrentSecretName != v2 {
				t.Errorf("current version moved on failure")
			}
		})
	}
	operator.AssertNoLeak(t, env.Client, ns, "kv-one", "kv-two", clientSecret)
}

// Workload identity: the ServiceAccount's TokenRequest token is the client
// assertion Entra receives; client and tenant ids come from its annotations.
func TestWorkloadIdentityUsesATokenRequestToken(t *testing.T) {
	fake := azurefake.New(tenant)
	t.Cleanup(fake.Close)
	startOperator(t, fake)
	ns := env.Namespace(t, nil)
	fake.Set("api-key", "wi-value")
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app", Annotations: map[string]string{
		azurekv.ClientIDAnnotation: clientID, azurekv.TenantIDAnnotation: tenant,
	}}}
	store := kvStore(ns, fake, vfv1alpha1.AzureKVProvider{AuthType: vfv1alpha1.AzureWorkloadIdentity,
		ServiceAccountRef: &vfv1alpha1.ServiceAccountSelector{Name: "app"}})
	es := fixtures.ExternalSecret(ns, "api", fixtures.WithStore(vfv1alpha1.SecretStoreKind, "kv"), fixtures.WithData("key", "api-key", ""))
	operator.Create(t, env.Client, sa, store, es)

	if got := operator.SyncedValue(t, env.Client, es, "key"); got != "wi-value" {
		t.Fatalf("synced %q", got)
	}
	assertions := fake.Assertions()
	if len(assertions) == 0 {
		t.Fatal("Entra never received a client assertion")
	}
	operator.AssertServiceAccountToken(t, env.Client, assertions[0], azurekv.TokenAudience, ns, "app")
}
