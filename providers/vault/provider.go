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
	"regexp"
	"strings"
	"time"

	retryablehttp "github.com/hashicorp/go-retryablehttp"
	vaultapi "github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// DefaultOwnTokenFile is the operator pod's own ServiceAccount token, used
// by Kubernetes auth when a ClusterSecretStore names no ServiceAccount and the
// operator allows its own identity (providers.OperatorIdentity).
const DefaultOwnTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// Option configures a Provider.
type Option func(*Provider)

// WithOwnTokenFile reads the operator's own ServiceAccount token from path
// (tests give the operator an identity with it).
func WithOwnTokenFile(path string) Option { return func(p *Provider) { p.ownTokenFile = path } }

// Provider serves VaultProvider specs.
type Provider struct {
	ownTokenFile string
	transports   transports
}

var _ providers.Provider = (*Provider)(nil)

// New returns the Vault provider.
func New(opts ...Option) *Provider {
	p := &Provider{ownTokenFile: DefaultOwnTokenFile}
	for _, o := range opts {
		o(p)
	}
	return p
}

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

// versionPattern is a KV v2 version number.
var versionPattern = regexp.MustCompile(`^[0-9]{1,19}$`)

// NormalizeRef trims the slashes Vault's client would drop and accepts only
// KV v2 version numbers.
func (*Provider) NormalizeRef(ref providers.Ref) (providers.Ref, error) {
	ref.Key = strings.Trim(ref.Key, "/")
	if ref.Key == "" {
		return ref, providers.Errorf(providers.ErrInvalid, "vault: the key is empty")
	}
	if !paths.CleanKey(ref.Key) {
		return ref, providers.Errorf(providers.ErrInvalid, "vault: key %q is not a clean path ('..', '.', empty segments, escapes, control or invisible characters)", ref.Key)
	}
	if ref.Version != "" && !versionPattern.MatchString(ref.Version) {
		return ref, providers.Errorf(providers.ErrInvalid, "vault: version %q is not a KV version number", ref.Version)
	}
	return ref, nil
}

// KeysFoldCase is false: Vault paths are case-sensitive.
func (*Provider) KeysFoldCase() bool { return false }

// NewClient logs in once; the client renews or re-issues its token as needed.
func (p *Provider) NewClient(ctx context.Context, store vfv1alpha1.GenericStore, kube providers.Kube, namespace string) (providers.Client, error) {
	if _, err := p.Validate(store); err != nil {
		return nil, err
	}
	spec := store.GetSpec().Provider.Vault
	ca, cert, err := tlsIdentity(ctx, spec, kube, namespace)
	if err != nil {
		return nil, err
	}
	transport, err := p.transports.get(ca, cert)
	if err != nil {
		return nil, err
	}
	// Every request leaves through the store's guard: whatever a check
	// before it saw, Vault is asked only for what the store declares.
	api, err := vaultapi.NewClient(newConfig(spec.Server, guard{base: transport, scope: scopeOf(spec, store.GetSpec().Dynamic)}))
	if err != nil {
		return nil, providers.Errorf(providers.ErrInvalid, "vault: %v", err)
	}
	// NewClient still reads VAULT_TOKEN, VAULT_NAMESPACE and VAULT_HEADERS
	// from the operator's environment: none of it may reach a store's server.
	api.ClearToken()
	api.ClearNamespace()
	api.SetHeaders(http.Header{vaultapi.RequestHeaderName: []string{"true"}})
	if spec.Namespace != "" {
		api.SetNamespace(spec.Namespace)
	}
	c := &client{api: api, spec: spec, login: loginFunc(spec, kube, namespace, p.ownTokenFile)}
	if err := c.relogin(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// newConfig is Vault's default client configuration without
// ReadEnvironment: the operator's VAULT_* variables (a client certificate, an
// agent address, skip-verify) are the operator's, never a store's.
func newConfig(server string, transport http.RoundTripper) *vaultapi.Config {
	return &vaultapi.Config{
		Address: server,
		HttpClient: &http.Client{
			Transport: transport,
			// Vault's client follows its own redirects (standby forwarding).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Timeout:      requestTimeout, // a hung Vault must not hold a sync worker for the default 60s
		MinRetryWait: time.Second,
		MaxRetryWait: 1500 * time.Millisecond,
		MaxRetries:   1,
		Backoff:      retryablehttp.RateLimitLinearJitterBackoff,
		CheckRetry:   checkRetry,
	}
}

// tlsIdentity reads the store's CA bundle (inline or from a Secret or
// ConfigMap) and its client certificate, if any.
func tlsIdentity(ctx context.Context, spec *vfv1alpha1.VaultProvider, kube providers.Kube, namespace string) (ca []byte, cert *tls.Certificate, err error) {
	ca = spec.CABundle
	if p := spec.CAProvider; p != nil {
		ns := namespace
		if p.Namespace != "" {
			ns = p.Namespace
		}
		if ca, err = readCA(ctx, kube, p, ns); err != nil {
			return nil, nil, err
		}
	}
	ref := spec.ClientTLSSecretRef
	if ref == nil {
		return ca, nil, nil
	}
	ns := namespace
	if ref.Namespace != "" {
		ns = ref.Namespace
	}
	s := &corev1.Secret{}
	if err := kube.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: ref.Name}, s); err != nil {
		return nil, nil, providers.Errorf(providers.ErrForbidden, "vault: client TLS Secret %s/%s: %v", ns, ref.Name, err)
	}
	pair, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, nil, providers.Errorf(providers.ErrInvalid, "vault: client TLS Secret %s/%s has no valid tls.crt/tls.key", ns, ref.Name)
	}
	return ca, &pair, nil
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
func loginFunc(spec *vfv1alpha1.VaultProvider, kube providers.Kube, namespace, ownTokenFile string) func(ctx context.Context, api *vaultapi.Client) (*vaultapi.Secret, string, error) {
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
			jwt, err := kubernetesJWT(ctx, k, kube, namespace, ownTokenFile)
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
// operator's own token, which the client cache allows only to
// ClusterSecretStores, and only when the operator says so.
func kubernetesJWT(ctx context.Context, k *vfv1alpha1.VaultKubernetesAuth, kube providers.Kube, namespace, ownTokenFile string) (string, error) {
	if k.ServiceAccountRef == nil {
		b, err := os.ReadFile(ownTokenFile) //nolint:gosec // the operator's own token file, from code, not from a spec
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
