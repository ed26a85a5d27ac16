package providers_test

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/providers/providertest"
	"github.com/vaultferry/vaultferry/providers/vault"
)

func TestEndpointPolicy(t *testing.T) {
	policy, err := providers.ParseEndpointPolicy([]string{"https://vault.example.com:8200", "https://*.vault.azure.net", "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		"https://vault.example.com:8200":        true,
		"https://VAULT.example.com:8200/v1/x":   true,
		"https://vault.example.com":             false, // port 443
		"http://vault.example.com:8200":         false,
		"https://vault.example.com.evil:8200":   false,
		"https://evil.com/vault.example.com":    false,
		"https://kv1.vault.azure.net":           true,
		"https://a.b.vault.azure.net":           false, // * is one label
		"https://vault.azure.net":               false,
		"http://127.0.0.1":                      true,
		"http://127.0.0.1:8080":                 false,
		"http://169.254.169.254/latest/meta":    false,
		"https://user@vault.example.com:8200":   false,
		"https://vault.example.com:8200@10.0.0": false,
	}
	for endpoint, want := range cases {
		if got := policy.Allows(endpoint); got != want {
			t.Errorf("Allows(%q) = %v, want %v", endpoint, got, want)
		}
	}
	if !(providers.EndpointPolicy{}).Allows("http://10.0.0.1") {
		t.Error("the zero policy must allow every endpoint")
	}
	for _, bad := range []string{"vault.example.com", "https://vault.example.com/path", "https://"} {
		if _, err := providers.ParseEndpointPolicy([]string{bad}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

// A namespaced SecretStore stored before the schema refused it (an upgrade
// keeps such objects) still never authenticates as the operator nor reads
// another namespace: the client cache refuses it before the provider runs.
func TestClientCacheRefusesStoresBeyondTheirNamespace(t *testing.T) {
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "cred"}, Data: map[string][]byte{"token": []byte("t")}}
	kube := providertest.Kube(other)
	p := &countingProvider{Provider: fake.New()}
	cache := providers.NewClientCache(providers.MustNewRegistry(p, vault.New()), kube, nil)
	cache.AllowOperatorIdentity(true) // never for a namespaced store
	stores := map[string]*vfv1alpha1.SecretStore{
		"Vault Kubernetes auth as the operator": {Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{
			Server: "http://127.0.0.1:1", Auth: vfv1alpha1.VaultAuth{Kubernetes: &vfv1alpha1.VaultKubernetesAuth{Role: "r"}}}}}},
		"a credential in another namespace": {Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Fake: &vfv1alpha1.FakeProvider{
			AuthSecretRef: &vfv1alpha1.SecretKeySelector{Name: "cred", Key: "token", Namespace: "other"}, Token: "t"}}}},
	}
	for name, store := range stores {
		store.Namespace, store.Name, store.UID = "team", "store", "u"
		if _, err := cache.Get(context.Background(), store, "team"); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("%s: Get = %v, want ErrInvalid", name, err)
		}
	}
}
