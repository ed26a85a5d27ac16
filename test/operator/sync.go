package operator

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Create creates objects, failing the test on error.
func Create(t testing.TB, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// ForceSync sets the force-sync annotation to a new value.
func ForceSync(t testing.TB, c client.Client, es *vfv1alpha1.ExternalSecret) {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(es), es); err != nil {
		t.Fatal(err)
	}
	before := es.DeepCopy()
	if es.Annotations == nil {
		es.Annotations = map[string]string{}
	}
	es.Annotations[vfv1alpha1.ForceSyncAnnotation] = time.Now().Format(time.RFC3339Nano)
	if err := c.Patch(context.Background(), es, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
}

// WaitSynced waits until es is Ready with its latest spec and force-sync
// request answered, on a current version other than notName.
func WaitSynced(t testing.TB, c client.Client, es *vfv1alpha1.ExternalSecret, notName string) *vfv1alpha1.ExternalSecret {
	t.Helper()
	return WaitFor(t, c, es, "a synced version", func(es *vfv1alpha1.ExternalSecret) bool {
		return HasReason(es.Status.Conditions, metav1.ConditionTrue, vfv1alpha1.SyncedReason) &&
			es.Status.ObservedGeneration == es.Generation &&
			es.Status.SyncedForceSync == es.Annotations[vfv1alpha1.ForceSyncAnnotation] &&
			es.Status.CurrentSecretName != "" && es.Status.CurrentSecretName != notName
	})
}

// SecretData returns the data of a Secret.
func SecretData(t testing.TB, c client.Client, namespace, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatalf("reading Secret %s: %v", name, err)
	}
	return s.Data
}
