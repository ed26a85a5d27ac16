package providers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// ReadSecretKey reads one credential from a Secret. A reference without
// namespace resolves in namespace. A missing Secret or key is ErrForbidden:
// without the credential the operator cannot authenticate, and creating the
// Secret fixes it without a spec change.
func ReadSecretKey(ctx context.Context, kube client.Reader, ref vfv1alpha1.SecretKeySelector, namespace string) ([]byte, error) {
	ns := ref.Namespace
	if ns == "" {
		ns = namespace
	}
	var s corev1.Secret
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &s); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return nil, Errorf(ErrForbidden, "credential Secret %s/%s not found", ns, ref.Name)
		case apierrors.IsForbidden(err):
			return nil, Errorf(ErrForbidden, "the operator may not read credential Secret %s/%s", ns, ref.Name)
		case Classify(err) != ClassOther: // already classified, e.g. by a namespace restriction
			return nil, err
		}
		return nil, Errorf(ErrUnavailable, "reading credential Secret %s/%s: %v", ns, ref.Name, err)
	}
	v, ok := s.Data[ref.Key]
	if !ok || len(v) == 0 {
		return nil, Errorf(ErrForbidden, "credential Secret %s/%s has no key %q", ns, ref.Name, ref.Key)
	}
	return v, nil
}
