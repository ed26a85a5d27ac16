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

	// Check verifies the client can still authenticate; it drives the
	// store's Ready condition.
	Check(ctx context.Context) error

	// Close releases the client (revoking tokens where the backend allows it).
	// It is idempotent.
	Close(ctx context.Context) error
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

// Secret is one remote value.
type Secret struct {
	// Value is the raw value.
	Value []byte
	// Version is the backend's version id of Value, when it has one.
	Version string
	// ExpiresAt is when the backend says the value expires, when it says.
	ExpiresAt *time.Time
}
