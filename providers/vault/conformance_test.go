package vault_test

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/providertest"
	"github.com/vaultferry/vaultferry/providers/vault"
	"github.com/vaultferry/vaultferry/test/testenv"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

func tokenStore(server, token string) (vfv1alpha1.GenericStore, providers.Kube, string) {
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "vault-token"}, Data: map[string][]byte{"token": []byte(token)}}
	kube := providers.NewKube(clientfake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(creds).Build(), nil)
	return &vfv1alpha1.SecretStore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "vault"},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{
			Server: server, Path: "secret", Version: vfv1alpha1.VaultKVv2,
			Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token"}},
		}}},
	}, kube, "team"
}

// The conformance suite against a real Vault dev server.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Vault dev server")
	}
	v := vaultdev.Start(t)
	providertest.Run(t, providertest.Harness{
		Provider:   vault.New(),
		Structured: true,
		Seed: func(t *testing.T, key string, value []byte) string {
			var data map[string]any
			if err := json.Unmarshal(value, &data); err != nil {
				t.Fatalf("seeding %s: %v", key, err)
			}
			return v.PutKV(t, key, data)
		},
		Store: func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
			return tokenStore(v.Addr, vaultdev.RootToken)
		},
		BadCredentials: func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
			return tokenStore(v.Addr, "not-a-token")
		},
	})
}
