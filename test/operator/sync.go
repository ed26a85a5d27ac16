package operator

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
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
			!es.ForceSyncRequested() &&
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

// SyncedValue waits until es is synced and returns key of its current version.
func SyncedValue(t testing.TB, c client.Client, es *vfv1alpha1.ExternalSecret, key string) string {
	t.Helper()
	synced := WaitSynced(t, c, es, "")
	return string(SecretData(t, c, es.Namespace, synced.Status.CurrentSecretName)[key])
}

// AssertServiceAccountToken fails unless token is a TokenRequest token of
// namespace/name for audience, as the API server's TokenReview says.
func AssertServiceAccountToken(t testing.TB, c client.Client, token, audience, namespace, name string) {
	t.Helper()
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{audience}}}
	if err := c.Create(context.Background(), review); err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + namespace + ":" + name; !review.Status.Authenticated || review.Status.User.Username != want {
		t.Fatalf("the token is not a TokenRequest token of %s for %s: %+v", want, audience, review.Status)
	}
}
