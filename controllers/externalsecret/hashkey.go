package externalsecret

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// HashKeySecretName is the Secret in the operator's namespace holding the key
// of the content hashes in version names.
const HashKeySecretName = "vaultferry-hash-key"

const hashKeyField = "key"

// LoadOrCreateHashKey returns the operator's hash key, creating it on first
// start. Every replica and every restart reads the same key, so version names
// stay stable. c must read the API server directly: the key Secret is not in
// the managed-Secret cache.
func LoadOrCreateHashKey(ctx context.Context, c client.Client, namespace string) ([]byte, error) {
	key := client.ObjectKey{Namespace: namespace, Name: HashKeySecretName}
	existing := &corev1.Secret{}
	err := c.Get(ctx, key, existing)
	if err == nil {
		return keyFrom(existing)
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading hash key Secret %s: %w", key, err)
	}

	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generating hash key: %w", err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: HashKeySecretName,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "vaultferry"},
		},
		Immutable: new(true),
		Data:      map[string][]byte{hashKeyField: fresh},
	}
	switch err := c.Create(ctx, s); {
	case err == nil:
		return fresh, nil
	case apierrors.IsAlreadyExists(err): // another replica won the race
		if err := c.Get(ctx, key, existing); err != nil {
			return nil, fmt.Errorf("reading hash key Secret %s: %w", key, err)
		}
		return keyFrom(existing)
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("creating hash key Secret: namespace %q does not exist (set --namespace or POD_NAMESPACE): %w", namespace, err)
	default:
		return nil, fmt.Errorf("creating hash key Secret %s: %w", key, err)
	}
}

func keyFrom(s *corev1.Secret) ([]byte, error) {
	k := s.Data[hashKeyField]
	if len(k) < 16 {
		return nil, fmt.Errorf("hash key Secret %s/%s has no %q of at least 16 bytes: delete it to have a new one made (all version names will change)", s.Namespace, s.Name, hashKeyField)
	}
	return k, nil
}
