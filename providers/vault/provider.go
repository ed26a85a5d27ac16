// Package vault is the HashiCorp Vault provider: KV v1 and v2 secrets engines,
// authenticated with a static token, AppRole, or Kubernetes auth (a
// TokenRequest token of a ServiceAccount, so tenants can log in as themselves).
package vault

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
)

// ownTokenFile is the operator pod's own ServiceAccount token, used by
// Kubernetes auth when the store names no ServiceAccount.
const ownTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Provider serves VaultProvider specs.
type Provider struct{}

var _ providers.Provider = (*Provider)(nil)

// New returns the Vault provider.
func New() *Provider { return &Provider{} }

// Name is "vault".
func (*Provider) Name() string { return "vault" }

// Validate checks the vault block without network I/O.
func (*Provider) Validate(store vfv1alpha1.GenericStore) ([]string, error) {
	spec := store.GetSpec().Provider.Vault
	if spec == nil {
		return nil, providers.Errorf(providers.ErrInvalid, "store has no vault provider block")
	}
	if !strings.HasPrefix(spec.Server, "http://") && !strings.HasPrefix(spec.Server, "https://") {
		return nil, providers.Errorf(providers.ErrInvalid, "vault: server must be an http(s) URL")
	}
	if spec.Version != "" && spec.Version != vfv1alpha1.VaultKVv1 && spec.Version != vfv1alpha1.VaultKVv2 {
		return nil, providers.Errorf(providers.ErrInvalid, "vault: version must be v1 or v2")
	}
	a := spec.Auth
	n := 0
	for _, set := range []bool{a.TokenSecretRef != nil, a.AppRole != nil, a.Kubernetes != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, providers.Errorf(providers.ErrInvalid, "vault: set exactly one auth method")
	}
	return nil, nil
}

// NewClient logs in once; the client renews or re-issues its token as needed.
func (p *Provider) NewClient(ctx context.Context, store vfv1alpha1.GenericStore, kube providers.Kube, namespace string) (providers.Client, error) {
	if _, err := p.Validate(store); err != nil {
		return nil, err
	}
	spec := store.GetSpec().Provider.Vault
	cfg := vaultapi.DefaultConfig()
	cfg.Address = spec.Server
	cfg.MaxRetries = 1
	cfg.Timeout = requestTimeout // a hung Vault must not hold a sync worker for the default 60s
	if err := configureTLS(ctx, cfg, spec, kube, namespace); err != nil {
		return nil, err
	}
	api, err := vaultapi.NewClient(cfg)
	if err != nil {
		return nil, providers.Errorf(providers.ErrInvalid, "vault: %v", err)
	}
	api.ClearToken()
	if spec.Namespace != "" {
		api.SetNamespace(spec.Namespace)
	}
	c := &client{api: api, spec: spec, login: loginFunc(spec, kube, namespace)}
	if err := c.relogin(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// configureTLS trusts the store's CA bundle (inline or from a Secret or
// ConfigMap) and presents its client certificate, if any.
func configureTLS(ctx context.Context, cfg *vaultapi.Config, spec *vfv1alpha1.VaultProvider, kube providers.Kube, namespace string) error {
	ca := spec.CABundle
	if p := spec.CAProvider; p != nil {
		ns := namespace
		if p.Namespace != "" {
			ns = p.Namespace
		}
		var err error
		if ca, err = readCA(ctx, kube, p, ns); err != nil {
			return err
		}
	}
	if len(ca) > 0 {
		if err := cfg.ConfigureTLS(&vaultapi.TLSConfig{CACertBytes: ca}); err != nil {
			return providers.Errorf(providers.ErrInvalid, "vault: CA bundle: %v", err)
		}
	}
	if ref := spec.ClientTLSSecretRef; ref != nil {
		ns := namespace
		if ref.Namespace != "" {
			ns = ref.Namespace
		}
		s := &corev1.Secret{}
		if err := kube.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: ref.Name}, s); err != nil {
			return providers.Errorf(providers.ErrForbidden, "vault: client TLS Secret %s/%s: %v", ns, ref.Name, err)
		}
		cert, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			return providers.Errorf(providers.ErrInvalid, "vault: client TLS Secret %s/%s has no valid tls.crt/tls.key", ns, ref.Name)
		}
		transport, ok := cfg.HttpClient.Transport.(*http.Transport)
		if !ok {
			return providers.Errorf(providers.ErrInvalid, "vault: cannot set a client certificate on this HTTP transport")
		}
		transport.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	return nil
}

func readCA(ctx context.Context, kube providers.Kube, p *vfv1alpha1.CAProvider, ns string) ([]byte, error) {
	if p.Type == "ConfigMap" {
		cm := &corev1.ConfigMap{}
		if err := kube.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: p.Name}, cm); err != nil {
			return nil, providers.Errorf(providers.ErrForbidden, "vault: CA ConfigMap %s/%s: %v", ns, p.Name, err)
		}
		if v, ok := cm.Data[p.Key]; ok {
			return []byte(v), nil
		}
		return nil, providers.Errorf(providers.ErrInvalid, "vault: CA ConfigMap %s/%s has no key %q", ns, p.Name, p.Key)
	}
	ca, err := providers.ReadSecretKey(ctx, kube, vfv1alpha1.SecretKeySelector{Name: p.Name, Key: p.Key}, ns)
	if err != nil {
		return nil, fmt.Errorf("vault: CA Secret: %w", err)
	}
	return ca, nil
}

// loginFunc returns how this store obtains a token.
func loginFunc(spec *vfv1alpha1.VaultProvider, kube providers.Kube, namespace string) func(ctx context.Context, api *vaultapi.Client) (*vaultapi.Secret, string, error) {
	a := spec.Auth
	switch {
	case a.TokenSecretRef != nil:
		return func(ctx context.Context, _ *vaultapi.Client) (*vaultapi.Secret, string, error) {
			token, err := providers.ReadSecretKey(ctx, kube, *a.TokenSecretRef, namespace)
			if err != nil {
				return nil, "", fmt.Errorf("vault: token: %w", err)
			}
			return nil, strings.TrimSpace(string(token)), nil
		}
	case a.AppRole != nil:
		return func(ctx context.Context, api *vaultapi.Client) (*vaultapi.Secret, string, error) {
			roleID := a.AppRole.RoleID
			if a.AppRole.RoleRef != nil {
				b, err := providers.ReadSecretKey(ctx, kube, *a.AppRole.RoleRef, namespace)
				if err != nil {
					return nil, "", fmt.Errorf("vault: AppRole role id: %w", err)
				}
				roleID = string(b)
			}
			secretID, err := providers.ReadSecretKey(ctx, kube, a.AppRole.SecretRef, namespace)
			if err != nil {
				return nil, "", fmt.Errorf("vault: AppRole secret id: %w", err)
			}
			s, err := api.Logical().WriteWithContext(ctx, "auth/"+orDefault(a.AppRole.Path, "approle")+"/login",
				map[string]any{"role_id": roleID, "secret_id": string(secretID)})
			return s, "", err
		}
	default:
		k := a.Kubernetes
		return func(ctx context.Context, api *vaultapi.Client) (*vaultapi.Secret, string, error) {
			jwt, err := kubernetesJWT(ctx, k, kube, namespace)
			if err != nil {
				return nil, "", err
			}
			s, err := api.Logical().WriteWithContext(ctx, "auth/"+orDefault(k.MountPath, "kubernetes")+"/login",
				map[string]any{"role": k.Role, "jwt": jwt})
			return s, "", err
		}
	}
}

// kubernetesJWT is a short-lived TokenRequest token of the named
// ServiceAccount (namespace-less: the one resolving references), or the
// operator's own token.
func kubernetesJWT(ctx context.Context, k *vfv1alpha1.VaultKubernetesAuth, kube providers.Kube, namespace string) (string, error) {
	if k.ServiceAccountRef == nil {
		b, err := os.ReadFile(ownTokenFile)
		if err != nil {
			return "", providers.Errorf(providers.ErrForbidden, "vault: reading the operator's own ServiceAccount token: %v", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	sa := k.ServiceAccountRef
	ns := namespace
	if sa.Namespace != "" {
		ns = sa.Namespace
	}
	return kube.ServiceAccountToken(ctx, ns, sa.Name, sa.Audiences, tokenLifetime)
}

func orDefault(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return strings.Trim(s, "/")
}
