package providers

import (
	"context"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NewKube returns the Kube providers use: reader must read the API server
// directly (credential Secrets are not in the operator's managed-Secret
// cache); tokens requests ServiceAccount tokens.
func NewKube(reader client.Reader, tokens corev1client.ServiceAccountsGetter) Kube {
	return &kube{Reader: reader, tokens: tokens}
}

type kube struct {
	client.Reader
	tokens corev1client.ServiceAccountsGetter
}

func (k *kube) ServiceAccountToken(ctx context.Context, namespace, name string, audiences []string, expiry time.Duration) (string, error) {
	seconds := int64(expiry.Seconds())
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &seconds}}
	resp, err := k.tokens.ServiceAccounts(namespace).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		return "", Errorf(ErrForbidden, "requesting a token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	if resp.Status.Token == "" {
		return "", Errorf(ErrForbidden, "empty token for ServiceAccount %s/%s", namespace, name)
	}
	return resp.Status.Token, nil
}
