package externalsecret_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/fake"
	"github.com/vaultferry/vaultferry/test/fixtures"
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
	update(t, store, func(s *vfv1alpha1.SecretStore) { s.Spec.Provider.Fake.Data = data })
}

// update re-reads obj, applies change and writes it back, retrying on conflicts.
func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	for range 10 {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatalf("reading %s: %v", obj.GetName(), err)
		}
		change(obj)
		err := env.Client.Update(context.Background(), obj)
		if err == nil {
			return
		}
		var status interface{ Status() metav1.Status }
		if !errors.As(err, &status) || status.Status().Reason != metav1.StatusReasonConflict {
			t.Fatalf("updating %s: %v", obj.GetName(), err)
		}
	}
	t.Fatalf("updating %s: conflicts did not stop", obj.GetName())
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
	store := fixtures.FakeStore(namespace, name, data...)
	operator.Create(t, env.Client, store)
	return operator.WaitFor(t, env.Client, store, "Ready", func(s *vfv1alpha1.SecretStore) bool {
		return operator.HasReason(s.Status.Conditions, metav1.ConditionTrue, vfv1alpha1.ValidatedReason) &&
			operator.Condition(s.Status.Conditions, vfv1alpha1.ReadyCondition).ObservedGeneration == s.Generation
	})
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
