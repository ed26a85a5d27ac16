package azurekv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/azurekv"
	"github.com/vaultferry/vaultferry/providers/providertest"
	"github.com/vaultferry/vaultferry/test/azurefake"
)

const (
	tenant       = "00000000-0000-0000-0000-00000000000a"
	clientID     = "11111111-0000-0000-0000-000000000001"
	clientSecret = "fake-client-secret"
)

func newProvider(fake *azurefake.Server) *azurekv.Provider {
	return azurekv.New(azurekv.WithHTTPClient(fake.Client()), azurekv.WithAuthorityHost(azurefake.AuthorityHost))
}

// spStore is a SecretStore authenticating as a service principal with the given credential Secret data.
func spStore(fake *azurefake.Server, data map[string][]byte, useCert bool) (vfv1alpha1.GenericStore, providers.Kube, string) {
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "azure"}, Data: data}
	kube := providertest.Kube(creds)
	ref := &vfv1alpha1.AzureAuthSecretRef{ClientID: vfv1alpha1.SecretKeySelector{Name: "azure", Key: "id"}}
	if useCert {
		ref.ClientCertificate = &vfv1alpha1.SecretKeySelector{Name: "azure", Key: "cert"}
	} else {
		ref.ClientSecret = &vfv1alpha1.SecretKeySelector{Name: "azure", Key: "secret"}
	}
	return &vfv1alpha1.SecretStore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "azure"},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{AzureKV: &vfv1alpha1.AzureKVProvider{
			VaultURL: fake.VaultURL("team"), TenantID: fake.Tenant, AuthType: vfv1alpha1.AzureServicePrincipal, AuthSecretRef: ref,
		}}},
	}, kube, "team"
}

func TestConformance(t *testing.T) {
	fake := azurefake.New(tenant)
	t.Cleanup(fake.Close)
	fake.AddClient(clientID, clientSecret)
	withSecret := func(secret string) func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
		return func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
			return spStore(fake, map[string][]byte{"id": []byte(clientID), "secret": []byte(secret)}, false)
		}
	}
	providertest.Run(t, providertest.Harness{
		Provider: newProvider(fake),
		Seed: func(_ *testing.T, key string, value []byte) string {
			return fake.Set(key, string(value))
		},
		Tag:            func(_ *testing.T, key string, tags map[string]string) { fake.Tag(key, tags) },
		Store:          withSecret(clientSecret),
		BadCredentials: withSecret("wrong"),
	})
	if fake.Requests("challenge") == 0 {
		t.Error("the client never went through the bearer challenge")
	}
}

func TestCertificateDisabledExpiredAndErrors(t *testing.T) {
	ctx := context.Background()
	fake := azurefake.New(tenant)
	t.Cleanup(fake.Close)
	pemBytes := fake.AddCertificateClient(clientID)
	store, kube, ns := spStore(fake, map[string][]byte{"id": []byte(clientID), "cert": pemBytes}, true)
	c, err := newProvider(fake).NewClient(ctx, store, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	fake.Set("db", `{"password":"az"}`)
	expires := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	fake.Expire("db", expires)
	got, err := c.GetSecret(ctx, providers.Ref{Key: "secret/db"})
	if err != nil {
		t.Fatalf("certificate credential: %v", err)
	}
	if string(got.Value) != `{"password":"az"}` || got.ExpiresAt == nil || !got.ExpiresAt.Equal(expires) {
		t.Errorf("got %q expiring %v", got.Value, got.ExpiresAt)
	}

	cases := map[string]struct {
		setup func()
		class error
	}{
		"a disabled secret":  {func() { fake.Set("off", "x"); fake.Disable("off") }, providers.ErrNotFound},
		"an expired secret":  {func() { fake.Set("old", "x"); fake.Expire("old", time.Now().Add(-time.Hour)) }, providers.ErrNotFound},
		"404 SecretNotFound": {func() {}, providers.ErrNotFound},
		"403 Forbidden":      {func() { fake.Set("denied", "x"); fake.Fail("denied", 403, "Forbidden", 0) }, providers.ErrForbidden},
		"429 Throttled":      {func() { fake.Set("busy", "x"); fake.Fail("busy", 429, "Throttled", 1) }, providers.ErrThrottled},
		"503":                {func() { fake.Set("down", "x"); fake.Fail("down", 503, "ServiceUnavailable", 0) }, providers.ErrUnavailable},
	}
	keys := map[string]string{"a disabled secret": "off", "an expired secret": "old", "404 SecretNotFound": "absent",
		"403 Forbidden": "denied", "429 Throttled": "busy", "503": "down"}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.setup()
			_, err := c.GetSecret(ctx, providers.Ref{Key: keys[name]})
			if !errors.Is(err, tc.class) {
				t.Fatalf("got %v, want class %v", err, tc.class)
			}
		})
	}
}
