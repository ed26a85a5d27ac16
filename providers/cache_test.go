package providers_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/providers/providertest"
	"github.com/vaultferry/vaultferry/test/testenv"
)

// countingProvider counts logins (NewClient calls) of the fake provider.
type countingProvider struct {
	*fake.Provider
	logins atomic.Int64
}

func (c *countingProvider) NewClient(ctx context.Context, store vfv1alpha1.GenericStore, kube providers.Kube, ns string) (providers.Client, error) {
	c.logins.Add(1)
	return c.Provider.NewClient(ctx, store, kube, ns)
}

func TestClientCacheLogsInOncePerStoreAndCredential(t *testing.T) {
	ctx := context.Background()
	credential := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "cred"}, Data: map[string][]byte{"token": []byte("t1")}}
	kubeClient := clientfake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(credential).Build()
	p := &countingProvider{Provider: fake.New()}
	cache := providers.NewClientCache(providers.MustNewRegistry(p), providers.NewKube(kubeClient, nil), nil)
	cache.SetCredentialRecheck(0) // recheck credentials on every Get

	store := &vfv1alpha1.SecretStore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "store", UID: "u1", Generation: 1},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Fake: &vfv1alpha1.FakeProvider{
			Data:          []vfv1alpha1.FakeProviderData{{Key: "k", Value: "v"}},
			AuthSecretRef: &vfv1alpha1.SecretKeySelector{Name: "cred", Key: "token"},
			Token:         "t1",
		}}},
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c, err := cache.Get(ctx, store, "team")
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := c.GetSecret(ctx, providers.Ref{Key: "k"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := p.logins.Load(); got != 1 {
		t.Fatalf("50 concurrent syncs logged in %d times, want once", got)
	}

	store.Generation = 2 // the store's spec changed
	if _, err := cache.Get(ctx, store, "team"); err != nil {
		t.Fatal(err)
	}
	if got := p.logins.Load(); got != 2 {
		t.Fatalf("after a store change: %d logins, want 2", got)
	}

	credential.Data["token"] = []byte("t1") // rotate in place: a new resourceVersion
	credential.Annotations = map[string]string{"rotated": "yes"}
	if err := kubeClient.Update(ctx, credential); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Get(ctx, store, "team"); err != nil {
		t.Fatal(err)
	}
	if got := p.logins.Load(); got != 3 {
		t.Fatalf("after a credential change: %d logins, want 3", got)
	}
	if _, err := cache.Get(ctx, store, "team"); err != nil {
		t.Fatal(err)
	}
	if got := p.logins.Load(); got != 3 {
		t.Fatalf("an unchanged store logged in again: %d logins", got)
	}
}

// Reads of one key within the freshness window share one provider call,
// unless the caller asks for a fresh value (MaxAge 0, as a forced sync does).
func TestFreshnessWindowSharesReads(t *testing.T) {
	ctx := context.Background()
	c, calls := countingClient(t, providers.DefaultFreshnessWindow)
	for range 10 {
		if _, err := c.GetSecret(ctx, providers.Ref{Key: "k", MaxAge: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if *calls != 1 {
		t.Fatalf("10 reads within the window made %d provider calls, want 1", *calls)
	}
	if _, err := c.GetSecret(ctx, providers.Ref{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if *calls != 2 {
		t.Fatalf("a read asking for a fresh value was answered from the window (%d calls)", *calls)
	}
}

// The window is a knob (--read-coalescing-window): 0 shares only reads in
// flight, a longer one shares sequential reads for longer.
func TestFreshnessWindowIsConfigurable(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		window time.Duration
		want   int
	}{
		"off: every sequential read calls the provider": {window: 0, want: 5},
		"one hour: one call":                            {window: time.Hour, want: 1},
	} {
		t.Run(name, func(t *testing.T) {
			c, calls := countingClient(t, tc.window)
			for range 5 {
				if _, err := c.GetSecret(ctx, providers.Ref{Key: "k", MaxAge: 2 * time.Hour}); err != nil {
					t.Fatal(err)
				}
			}
			if *calls != tc.want {
				t.Fatalf("5 sequential reads made %d provider calls, want %d", *calls, tc.want)
			}
		})
	}
}

// countingClient is a cached fake-store client with the given freshness
// window, and the count of provider calls made through it.
func countingClient(t *testing.T, window time.Duration) (providers.Client, *int) {
	t.Helper()
	calls := new(int)
	p := fake.New(fake.WithHook(func(context.Context, string, providers.Ref) error { *calls++; return nil }))
	cache := providers.NewClientCache(providers.MustNewRegistry(p), providertest.Kube(), nil)
	cache.SetFreshnessWindow(window)
	store := &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "s", UID: "u", Generation: 1},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Fake: &vfv1alpha1.FakeProvider{Data: []vfv1alpha1.FakeProviderData{{Key: "k", Value: "v"}}}}}}
	c, err := cache.Get(context.Background(), store, "team")
	if err != nil {
		t.Fatal(err)
	}
	return c, calls
}
