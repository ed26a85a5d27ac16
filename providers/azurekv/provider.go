// Package azurekv is the Azure Key Vault provider. It authenticates as a
// service principal (client secret or certificate from a Secret), as a
// ServiceAccount through workload identity (a TokenRequest token exchanged as
// a client assertion), or with a managed identity.
package azurekv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
)

// Workload identity's ServiceAccount annotations and token audience.
const (
	ClientIDAnnotation = "azure.workload.identity/client-id"
	TenantIDAnnotation = "azure.workload.identity/tenant-id"
	TokenAudience      = "api://AzureADTokenExchange"
)

const (
	tokenLifetime = time.Hour
	maxRetries    = 2
)

// clouds maps environmentType to the Entra authority host.
var clouds = map[vfv1alpha1.AzureEnvironmentType]cloud.Configuration{
	"":                  cloud.AzurePublic,
	"PublicCloud":       cloud.AzurePublic,
	"ChinaCloud":        cloud.AzureChina,
	"USGovernmentCloud": cloud.AzureGovernment,
	"GermanCloud":       {ActiveDirectoryAuthorityHost: "https://login.microsoftonline.de/"},
}

// Option configures a Provider.
type Option func(*Provider)

// WithHTTPClient sets the HTTP client of the SDK clients (tests trust a fake's TLS certificate with it).
func WithHTTPClient(c *http.Client) Option { return func(p *Provider) { p.transport = c } }

// WithAuthorityHost replaces every cloud's Entra authority host (tests point it at a fake).
func WithAuthorityHost(url string) Option { return func(p *Provider) { p.authorityHost = url } }

// Provider serves AzureKVProvider specs.
type Provider struct {
	transport     policy.Transporter
	authorityHost string
}

var _ providers.Provider = (*Provider)(nil)

// New returns the Azure Key Vault provider.
func New(opts ...Option) *Provider {
	p := &Provider{}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name is "azurekv".
func (*Provider) Name() string { return "azurekv" }

// Validate checks the azurekv block without network I/O.
func (*Provider) Validate(store vfv1alpha1.GenericStore) ([]string, error) {
	spec := store.GetSpec().Provider.AzureKV
	if spec == nil {
		return nil, providers.Errorf(providers.ErrInvalid, "store has no azurekv provider block")
	}
	if _, ok := clouds[spec.EnvironmentType]; !ok {
		return nil, providers.Errorf(providers.ErrInvalid, "azurekv: unknown environmentType %q", spec.EnvironmentType)
	}
	switch authType(spec) {
	case vfv1alpha1.AzureServicePrincipal:
		if spec.AuthSecretRef == nil || spec.TenantID == "" {
			return nil, providers.Errorf(providers.ErrInvalid, "azurekv: ServicePrincipal needs tenantId and authSecretRef")
		}
	case vfv1alpha1.AzureWorkloadIdentity:
		if spec.ServiceAccountRef == nil {
			return nil, providers.Errorf(providers.ErrInvalid, "azurekv: WorkloadIdentity needs serviceAccountRef")
		}
	}
	return nil, nil
}

func authType(spec *vfv1alpha1.AzureKVProvider) vfv1alpha1.AzureAuthType {
	if spec.AuthType == "" {
		return vfv1alpha1.AzureServicePrincipal
	}
	return spec.AuthType
}

// defaultHTTPClient is azcore's default: the default transport, TLS 1.2 or later.
var defaultHTTPClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}
}()

// NewClient builds the credential and the Key Vault client for the store.
// Tokens are cached by the credential and the client until they expire.
func (p *Provider) NewClient(ctx context.Context, store vfv1alpha1.GenericStore, kube providers.Kube, namespace string) (providers.Client, error) {
	if _, err := p.Validate(store); err != nil {
		return nil, err
	}
	spec := store.GetSpec().Provider.AzureKV
	opts := azcore.ClientOptions{Cloud: clouds[spec.EnvironmentType], Retry: policy.RetryOptions{MaxRetries: maxRetries}}
	if p.authorityHost != "" {
		opts.Cloud.ActiveDirectoryAuthorityHost = p.authorityHost
	}
	var transport providers.Doer = defaultHTTPClient
	if p.transport != nil {
		transport = p.transport
	}
	opts.Transport = providers.BoundedDoer{Doer: transport}
	cred, err := p.credential(ctx, spec, kube, namespace, opts)
	if err != nil {
		return nil, err
	}
	kv, err := azsecrets.NewClient(spec.VaultURL, cred, &azsecrets.ClientOptions{ClientOptions: opts})
	if err != nil {
		return nil, providers.Errorf(providers.ErrInvalid, "azurekv: %v", err)
	}
	return &kvClient{kv: kv}, nil
}

func (p *Provider) credential(ctx context.Context, spec *vfv1alpha1.AzureKVProvider, kube providers.Kube, namespace string, opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	switch authType(spec) {
	case vfv1alpha1.AzureManagedIdentity:
		miOpts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if spec.IdentityID != "" {
			miOpts.ID = azidentity.ClientID(spec.IdentityID)
		}
		return wrapCredErr(azidentity.NewManagedIdentityCredential(miOpts))
	case vfv1alpha1.AzureWorkloadIdentity:
		return workloadIdentity(ctx, spec, kube, namespace, opts)
	default:
		return servicePrincipal(ctx, spec, kube, namespace, opts)
	}
}

func servicePrincipal(ctx context.Context, spec *vfv1alpha1.AzureKVProvider, kube providers.Kube, namespace string, opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	ref := spec.AuthSecretRef
	clientID, err := providers.ReadSecretKey(ctx, kube, ref.ClientID, namespace)
	if err != nil {
		return nil, fmt.Errorf("azurekv: client id: %w", err)
	}
	if ref.ClientCertificate != nil {
		pem, err := providers.ReadSecretKey(ctx, kube, *ref.ClientCertificate, namespace)
		if err != nil {
			return nil, fmt.Errorf("azurekv: client certificate: %w", err)
		}
		certs, key, err := azidentity.ParseCertificates(pem, nil)
		if err != nil {
			return nil, providers.Errorf(providers.ErrInvalid, "azurekv: client certificate is not a PEM certificate with its private key")
		}
		return wrapCredErr(azidentity.NewClientCertificateCredential(spec.TenantID, string(clientID), certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true}))
	}
	if ref.ClientSecret == nil {
		return nil, providers.Errorf(providers.ErrInvalid, "azurekv: authSecretRef needs clientSecret or clientCertificate")
	}
	secret, err := providers.ReadSecretKey(ctx, kube, *ref.ClientSecret, namespace)
	if err != nil {
		return nil, fmt.Errorf("azurekv: client secret: %w", err)
	}
	return wrapCredErr(azidentity.NewClientSecretCredential(spec.TenantID, string(clientID), string(secret),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true}))
}

// workloadIdentity exchanges the ServiceAccount's TokenRequest token as a
// client assertion; the client id (and tenant, when not in the spec) come
// from the ServiceAccount's workload identity annotations.
func workloadIdentity(ctx context.Context, spec *vfv1alpha1.AzureKVProvider, kube providers.Kube, namespace string, opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	ref := spec.ServiceAccountRef
	ns := namespace
	if ref.Namespace != "" {
		ns = ref.Namespace
	}
	sa := &corev1.ServiceAccount{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, sa); err != nil {
		return nil, providers.Errorf(providers.ErrForbidden, "azurekv: reading ServiceAccount %s/%s: %v", ns, ref.Name, err)
	}
	clientID := sa.Annotations[ClientIDAnnotation]
	if clientID == "" {
		return nil, providers.Errorf(providers.ErrInvalid, "azurekv: ServiceAccount %s/%s has no %s annotation", ns, ref.Name, ClientIDAnnotation)
	}
	tenant := spec.TenantID
	if tenant == "" {
		tenant = sa.Annotations[TenantIDAnnotation]
	}
	if tenant == "" {
		return nil, providers.Errorf(providers.ErrInvalid, "azurekv: set tenantId or annotate ServiceAccount %s/%s with %s", ns, ref.Name, TenantIDAnnotation)
	}
	audiences := ref.Audiences
	if len(audiences) == 0 {
		audiences = []string{TokenAudience}
	}
	assertion := func(ctx context.Context) (string, error) {
		return kube.ServiceAccountToken(ctx, ns, ref.Name, audiences, tokenLifetime)
	}
	return wrapCredErr(azidentity.NewClientAssertionCredential(tenant, clientID, assertion,
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true}))
}

func wrapCredErr[T azcore.TokenCredential](cred T, err error) (azcore.TokenCredential, error) {
	if err != nil {
		return nil, providers.Errorf(providers.ErrInvalid, "azurekv: building credential: %v", err)
	}
	return cred, nil
}

// secretName accepts "name" and "secret/name".
func secretName(key string) string {
	return strings.TrimPrefix(key, "secret/")
}

// Key Vault's rules: a secret name is 1-127 letters, digits and dashes; a
// version is 32 hex digits. Both go into the request path, so nothing else
// may pass (url.PathEscape leaves "..", which would climb the path).
var (
	versionPattern = regexp.MustCompile(`^[0-9A-Fa-f]{32}$`)
)

// NormalizeRef returns the secret's name ("secret/" dropped) and accepts
// only Key Vault names and version ids.
func (*Provider) NormalizeRef(ref providers.Ref) (providers.Ref, error) {
	ref.Key = secretName(ref.Key)
	if !validSecretName(ref.Key) {
		return ref, providers.Errorf(providers.ErrInvalid, "azurekv: key %q is not a Key Vault secret name (1-127 letters, digits and dashes)", ref.Key)
	}
	if ref.Version != "" && !versionPattern.MatchString(ref.Version) {
		return ref, providers.Errorf(providers.ErrInvalid, "azurekv: version %q is not a Key Vault version id (32 hex digits)", ref.Version)
	}
	return ref, nil
}

// KeysFoldCase is true: Key Vault compares secret names without regard to case.
func (*Provider) KeysFoldCase() bool { return true }

// validSecretName reports whether name is a Key Vault secret name: 1–127
// letters, digits and dashes. (A regexp with {1,127} compiles to half a
// megabyte that every operator would carry, Azure stores or not.)
func validSecretName(name string) bool {
	if len(name) == 0 || len(name) > 127 {
		return false
	}
	for _, c := range name {
		if !isASCIIAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

func isASCIIAlnum(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
