package externalsecret_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/operator"
	"github.com/vaultferry/vaultferry/test/testenv"
)

var env *testenv.Env

// inUseRecheck is how soon the operator under test rechecks versions held back by workloads.
const inUseRecheck = time.Second

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, &env))
}

// faults lets a test make the fake provider fail for one store.
type faults struct {
	mu     sync.Mutex
	byName map[string]error
}

func (f *faults) set(store string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byName == nil {
		f.byName = map[string]error{}
	}
	f.byName[store] = err
}

func (f *faults) hook(_ context.Context, store string, _ providers.Ref) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byName[store]
}

// start runs the operator with the fake provider; faults injects errors.
func start(t *testing.T) (*operator.Running, *faults) {
	t.Helper()
	testenv.Require(t, env)
	f := &faults{}
	run := operator.Start(t, env, controllers.Config{
		Registry:     providers.MustNewRegistry(fake.New(fake.WithHook(f.hook))),
		StoreWait:    time.Second,
		InUseRecheck: inUseRecheck,
	})
	return run, f
}

// setStoreData replaces the fake store's data, as a rotation in the vault would.
func setStoreData(t *testing.T, store *vfv1alpha1.SecretStore, data ...vfv1alpha1.FakeProviderData) {
	t.Helper()
	operator.SetFakeStoreData(t, env.Client, store, data...)
}

// update re-reads obj, applies change and writes it back, retrying on conflicts.
func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	operator.Update(t, env.Client, obj, change)
}

// versions lists the Secrets labelled as versions of the named ExternalSecret.
func versions(t *testing.T, namespace, esName string) map[string]corev1.Secret {
	t.Helper()
	list := &corev1.SecretList{}
	if err := env.Client.List(context.Background(), list, client.InNamespace(namespace),
		client.MatchingLabels{vfv1alpha1.ExternalSecretLabel: esName}); err != nil {
		t.Fatalf("listing versions: %v", err)
	}
	out := map[string]corev1.Secret{}
	for _, s := range list.Items {
		out[s.Name] = s
	}
	return out
}

// readyStore creates a fake SecretStore and waits until it is Ready.
func readyStore(t *testing.T, namespace, name string, data ...vfv1alpha1.FakeProviderData) *vfv1alpha1.SecretStore {
	t.Helper()
	return operator.ReadyFakeStore(t, env.Client, namespace, name, data...)
}

func synced(t *testing.T, es *vfv1alpha1.ExternalSecret, notName string) *vfv1alpha1.ExternalSecret {
	t.Helper()
	return operator.WaitSynced(t, env.Client, es, notName)
}

func getSecret(t *testing.T, namespace, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatalf("reading Secret %s: %v", name, err)
	}
	return s
}
