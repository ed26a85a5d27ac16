package secretstore_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/awssm"
	"github.com/vaultferry/vaultferry/providers/azurekv"
	"github.com/vaultferry/vaultferry/providers/vault"
	"github.com/vaultferry/vaultferry/test/fixtures"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// newCapture is a tenant's or an attacker's endpoint: it records every
// request and answers each with an error.
func newCapture(t *testing.T, tls bool) *testenv.Recorder {
	return testenv.NewRecorder(t, tls, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "captured", http.StatusInternalServerError)
	})
}

// operatorToken gives the operator a real identity to misuse: a token of a
// ServiceAccount that may read every Secret in the cluster, as the
// operator's own may, written where the Vault provider reads its own token.
func operatorToken(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operator.Namespace, Name: "ambient-identity"}}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "ambient-identity-reads-secrets"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: sa.Namespace}},
	}
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operator.Namespace}}, sa, binding} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	clientset := kubernetes.NewForConfigOrDie(env.Config)
	resp, err := clientset.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(resp.Status.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The operator never authenticates as itself for a store unless the admin
// allows it for ClusterSecretStores: with its own Vault token, AWS
// credentials and Azure managed identity at hand, every such store is
// refused with a condition that says what to do, and its endpoint receives
// nothing. (Namespaced SecretStores are refused earlier, by the schema: see
// apis/v1alpha1's validation test.)
func TestOperatorIdentityIsNotLent(t *testing.T) {
	testenv.Require(t, env)
	tokenFile := operatorToken(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAOPERATOROWNKEY00")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "operator-own-secret-access-key")
	registry := providers.MustNewRegistry(vault.New(vault.WithOwnTokenFile(tokenFile)), awssm.New(), azurekv.New())
	run := operator.Start(t, env, controllers.Config{Registry: registry})

	vaultEndpoint, awsEndpoint, azureEndpoint := newCapture(t, false), newCapture(t, false), newCapture(t, true)
	stores := map[string]*vfv1alpha1.ClusterSecretStore{
		"Vault Kubernetes auth without serviceAccountRef": clusterStore("ambient-vault", vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{
			Server: vaultEndpoint.URL, Auth: vfv1alpha1.VaultAuth{Kubernetes: &vfv1alpha1.VaultKubernetesAuth{Role: "admin"}}}}),
		"AWS without auth, assuming a role": clusterStore("ambient-aws", vfv1alpha1.SecretStoreProvider{AWS: &vfv1alpha1.AWSProvider{
			Region: "eu-west-1", Endpoint: awsEndpoint.URL, Role: "arn:aws:iam::123456789012:role/admin"}}),
		"Azure managed identity": clusterStore("ambient-azure", vfv1alpha1.SecretStoreProvider{AzureKV: &vfv1alpha1.AzureKVProvider{
			VaultURL: azureEndpoint.URL, AuthType: vfv1alpha1.AzureManagedIdentity}}),
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			operator.Create(t, env.Client, store)
			waitForReady(t, store, metav1.ConditionFalse, vfv1alpha1.InvalidProviderConfigReason)
			msg := operator.Condition(store.Status.Conditions, vfv1alpha1.ReadyCondition).Message
			if !strings.Contains(msg, "authenticates as the operator") || !strings.Contains(msg, "--allow-operator-identity-for-cluster-stores") {
				t.Errorf("the condition does not say what to do: %s", msg)
			}
		})
	}
	for name, c := range map[string]*testenv.Recorder{"Vault": vaultEndpoint, "AWS": awsEndpoint, "Azure": azureEndpoint} {
		if got := c.Seen(); len(got) != 0 {
			t.Errorf("%s endpoint received %d requests, the first: %.160s", name, len(got), got[0])
		}
	}

	// The gate is what protects: allowed, the same store logs in with the
	// operator's own token, which is why the flag is off by default.
	run.Stop(t)
	operator.Start(t, env, controllers.Config{Registry: registry, AllowOperatorIdentity: true})
	own, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	vaultStore := stores["Vault Kubernetes auth without serviceAccountRef"]
	operator.WaitFor(t, env.Client, vaultStore, "a login with the operator's token", func(*vfv1alpha1.ClusterSecretStore) bool {
		for _, r := range vaultEndpoint.Seen() {
			var login struct{ JWT string }
			if strings.HasPrefix(r, "PUT /v1/auth/kubernetes/login ") && json.Unmarshal([]byte(strings.Fields(r)[2]), &login) == nil && login.JWT == string(own) {
				return true
			}
		}
		return false
	})
}

// With --allowed-store-endpoints, a tenant's SecretStore cannot make the
// operator connect anywhere else: the store is refused before any request,
// with a condition naming the flag; ClusterSecretStores are the admin's.
func TestStoreEndpointsAreRestricted(t *testing.T) {
	testenv.Require(t, env)
	policy, err := providers.ParseEndpointPolicy([]string{"https://vault.example.com:8200", "https://*.vault.azure.net"})
	if err != nil {
		t.Fatal(err)
	}
	operator.Start(t, env, controllers.Config{Registry: providers.MustNewRegistry(vault.New(), awssm.New()), StoreEndpoints: policy})
	ns := env.Namespace(t, nil)
	internal := newCapture(t, false)
	credential := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "token"}, Data: map[string][]byte{"token": []byte("t")}}
	operator.Create(t, env.Client, credential)

	stores := map[string]vfv1alpha1.SecretStoreProvider{
		"Vault server": {Vault: &vfv1alpha1.VaultProvider{Server: internal.URL,
			Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "token", Key: "token"}}}},
		"AWS endpoint": {AWS: &vfv1alpha1.AWSProvider{Region: "eu-west-1", Endpoint: internal.URL, Auth: &vfv1alpha1.AWSAuth{SecretRef: &vfv1alpha1.AWSSecretRef{
			AccessKeyIDSecretRef: vfv1alpha1.SecretKeySelector{Name: "token", Key: "token"}, SecretAccessKeySecretRef: vfv1alpha1.SecretKeySelector{Name: "token", Key: "token"}}}}},
	}
	for name, provider := range stores {
		t.Run(name, func(t *testing.T) {
			store := &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: strings.ToLower(strings.ReplaceAll(name, " ", "-"))},
				Spec: vfv1alpha1.SecretStoreSpec{Provider: provider}}
			operator.Create(t, env.Client, store)
			waitForReady(t, store, metav1.ConditionFalse, vfv1alpha1.InvalidProviderConfigReason)
			if msg := operator.Condition(store.Status.Conditions, vfv1alpha1.ReadyCondition).Message; !strings.Contains(msg, "--allowed-store-endpoints") {
				t.Errorf("the condition does not name the flag: %s", msg)
			}
		})
	}
	if got := internal.Seen(); len(got) != 0 {
		t.Errorf("the endpoint received %d requests, the first: %.160s", len(got), got[0])
	}
}

func clusterStore(name string, p vfv1alpha1.SecretStoreProvider) *vfv1alpha1.ClusterSecretStore {
	return &vfv1alpha1.ClusterSecretStore{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fixtures.Declared(vfv1alpha1.SecretStoreSpec{Provider: p})}
}
