// Package providers defines the small contract every secret backend
// implements, the typed errors controllers classify with errors.Is, and the
// registry that picks a provider for a store.
package providers

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Provider creates Clients for one backend. Implementations are stateless and
// safe for concurrent use.
type Provider interface {
	// Name is the key of the provider in the store's provider union: "vault",
	// "aws", "azurekv" or "fake".
	Name() string

	// Validate checks the provider block without network I/O.
	Validate(store vfv1alpha1.GenericStore) (warnings []string, err error)

	// NormalizeRef checks a remote reference against the backend's naming
	// rules, without I/O, and returns it as the backend reads it. The
	// controller checks tenancy rules (allowedKeys) on that form and reads
	// exactly that form, so the two can never differ. A key or version the
	// backend could read as something else than written (a traversal, an
	// escape, a version that is not one) is ErrInvalid.
	NormalizeRef(ref Ref) (Ref, error)

	// KeysFoldCase reports whether the backend compares secret names
	// without regard to case (Azure Key Vault): allowedKeys then match the
	// same way. Vault and AWS names are case-sensitive.
	KeysFoldCase() bool

	// NewClient authenticates to the backend. kube reads credentials;
	// namespace is where namespace-less references resolve: the store's own
	// namespace for a SecretStore, the ExternalSecret's for a ClusterSecretStore.
	NewClient(ctx context.Context, store vfv1alpha1.GenericStore, kube Kube, namespace string) (Client, error)
}

// Kube is what a provider may do with the Kubernetes API: read credential
// Secrets (and ServiceAccounts) and request ServiceAccount tokens.
type Kube interface {
	client.Reader
	// ServiceAccountToken returns a short-lived token for the ServiceAccount
	// from the TokenRequest API.
	ServiceAccountToken(ctx context.Context, namespace, name string, audiences []string, expiry time.Duration) (string, error)
}

// Client reads secrets from one backend, already authenticated.
// Implementations are safe for concurrent use.
type Client interface {
	// GetSecret returns the raw value of one remote secret. Structured
	// backends (Vault KV) return their data as a JSON object. Property
	// extraction happens in the controller, not here.
	GetSecret(ctx context.Context, ref Ref) (Secret, error)

	// FindSecrets lists the secrets under req.Path that carry every tag in
	// req.Tags and returns the latest value of each one req.Keep keeps, by
	// key in the form GetSecret reads. Keep runs on every listed key before
	// anything else is read for it: a key it drops is never fetched. More
	// than req.MaxKeys kept keys is ErrTooMany; a listing larger than
	// MaxListed entries is ErrTooMany too, before any value is read.
	FindSecrets(ctx context.Context, req FindRequest) (map[string]Secret, error)

	// Check verifies the client can still authenticate; it drives the
	// store's Ready condition.
	Check(ctx context.Context) error

	// Close releases the client (revoking tokens where the backend allows it).
	// It is idempotent.
	Close(ctx context.Context) error
}

// Leaser issues credentials that come with a lease (Vault's dynamic
// secrets, its PKI certificates), renews and revokes them. Every client the
// ClientCache hands out implements it; a backend without leases answers
// ErrInvalid.
type Leaser interface {
	// Issue asks the backend for new credentials.
	Issue(ctx context.Context, req IssueRequest) (Lease, error)
	// Renew extends a lease by increment (the backend may grant less).
	Renew(ctx context.Context, leaseID string, increment time.Duration) (Lease, error)
	// Revoke ends a lease: the credentials stop working.
	Revoke(ctx context.Context, leaseID string) error
}

// IssueRequest names an endpoint that issues credentials.
type IssueRequest struct {
	// Path is the backend path, such as database/creds/app or pki/issue/web.
	Path string
	// Write sends Parameters with a write (Vault's POST/PUT); else a read.
	Write bool
	// Parameters of a write.
	Parameters map[string]any
	// Tenant is the namespace asking; providers ignore it.
	Tenant string
}

// Lease is issued credentials and the terms they come with. ID never goes
// into logs, events, conditions or metric labels.
type Lease struct {
	// ID identifies the lease for renewal and revocation; empty when the
	// credentials have no lease (a certificate: it expires at ExpiresAt).
	ID string
	// Data are the credentials, by field; non-string values as JSON.
	Data map[string][]byte
	// TTL is how long the lease runs from now; Renewable says whether Renew may extend it.
	TTL       time.Duration
	Renewable bool
	// ExpiresAt is when the credentials stop working: now + TTL, or a
	// certificate's notAfter.
	ExpiresAt time.Time
}

// Ref addresses one remote secret.
type Ref struct {
	// Key is the remote path or name.
	Key string
	// Version pins a remote version; empty means the latest.
	Version string
	// MaxAge lets the client cache answer with a value read at most this
	// long ago (capped by the cache's freshness window); 0 always reads.
	// Providers ignore it.
	MaxAge time.Duration
	// Tenant is the namespace of the ExternalSecret reading: a store's rate
	// limit is shared fairly between namespaces. Providers ignore it.
	Tenant string
}

// FindRequest selects remote secrets by where they are and what they carry.
type FindRequest struct {
	// Path limits the search: a folder for Vault, a name prefix for AWS,
	// Azure and the fake. Empty searches everything the credentials list.
	Path string
	// Tags every found secret carries (Vault KV v2 custom_metadata, AWS and
	// Azure tags).
	Tags map[string]string
	// Keep filters listed keys (name pattern, tenancy) before any read.
	Keep func(key string) bool
	// Descend, when set, says whether a backend with folders (Vault) may
	// list a folder at all: false for a folder no allowed key can be in.
	Descend func(folder string) bool
	// MaxKeys bounds how many keys may be kept.
	MaxKeys int
	// Tenant is the namespace of the ExternalSecret finding; providers ignore it.
	Tenant string
	// BeforeCall, when set, runs before every call to the backend and may
	// refuse it (the store's rate limit). Providers call it, from several
	// goroutines at once; they never set it.
	BeforeCall func(ctx context.Context) error
}

// MaxListed bounds how many entries one find may list, whatever it keeps:
// a path with more is refused before any value is read, so that no find can
// walk a whole vault on every refresh.
const MaxListed = 10000

// Call runs BeforeCall, if set.
func (r FindRequest) Call(ctx context.Context) error {
	if r.BeforeCall == nil {
		return nil
	}
	return r.BeforeCall(ctx)
}

// Secret is one remote value.
type Secret struct {
	// Value is the raw value.
	Value []byte
	// Version is the backend's version id of Value, when it has one.
	Version string
	// ExpiresAt is when the backend says the value expires, when it says.
	ExpiresAt *time.Time
}
