package externalsecret

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// LegacyVersionName is the name vaultferry 0.1 gave a version of base.
func LegacyVersionName(key []byte, base string, secretType corev1.SecretType, data map[string][]byte) (name, hash string) {
	hash = legacyContentHash(key, secretType, data)
	return versionedName(base, hash), hash
}

// Prune exposes prune to the envtest suite.
func (r *Reconciler) Prune(ctx context.Context, es *vfv1alpha1.ExternalSecret, owned []corev1.Secret, candidates []string) (int, error) {
	return r.prune(ctx, es, owned, candidates)
}
