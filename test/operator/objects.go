package operator

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/test/fixtures"
)

// Update re-reads obj, applies change and writes it back, retrying on conflicts.
func Update[T client.Object](t testing.TB, c client.Client, obj T, change func(T)) {
	t.Helper()
	for range 10 {
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatalf("reading %s: %v", obj.GetName(), err)
		}
		change(obj)
		err := c.Update(context.Background(), obj)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("updating %s: %v", obj.GetName(), err)
		}
	}
	t.Fatalf("updating %s: conflicts did not stop", obj.GetName())
}

// ReadyFakeStore creates a fake SecretStore holding data and waits until it is Ready.
func ReadyFakeStore(t testing.TB, c client.Client, namespace, name string, data ...vfv1alpha1.FakeProviderData) *vfv1alpha1.SecretStore {
	t.Helper()
	store := fixtures.FakeStore(namespace, name, data...)
	Create(t, c, store)
	return WaitFor(t, c, store, "Ready", func(s *vfv1alpha1.SecretStore) bool {
		return HasReason(s.Status.Conditions, metav1.ConditionTrue, vfv1alpha1.ValidatedReason) &&
			Condition(s.Status.Conditions, vfv1alpha1.ReadyCondition).ObservedGeneration == s.Generation
	})
}

// SetFakeStoreData replaces a fake store's data, as a rotation in the vault would.
func SetFakeStoreData(t testing.TB, c client.Client, store *vfv1alpha1.SecretStore, data ...vfv1alpha1.FakeProviderData) {
	t.Helper()
	Update(t, c, store, func(s *vfv1alpha1.SecretStore) { s.Spec.Provider.Fake.Data = data })
}
