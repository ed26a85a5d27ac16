// Package fake is the in-spec provider: a store serves the data written in
// its own spec. It drives demos and tests; real stores use the other providers.
package fake

import (
	"context"
	"crypto/subtle"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
)

// Hook runs before every read; a non-nil error is returned instead of the
// value. store is "<namespace>/<name>" ("/<name>" for a ClusterSecretStore).
// Tests use it to inject faults and count provider calls.
type Hook func(ctx context.Context, store string, ref providers.Ref) error

// Option configures a Provider.
type Option func(*Provider)

// WithHook installs a hook run before every read.
func WithHook(h Hook) Option { return func(p *Provider) { p.hook = h } }

// Provider serves FakeProvider specs.
type Provider struct {
	hook     Hook
	requests atomic.Int64
}

var _ providers.Provider = (*Provider)(nil)

// New returns a fake provider.
func New(opts ...Option) *Provider {
	p := &Provider{}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name is "fake".
func (*Provider) Name() string { return "fake" }

// Requests is how many reads clients of this provider have served or refused.
func (p *Provider) Requests() int64 { return p.requests.Load() }

// Validate checks the fake block.
func (*Provider) Validate(store vfv1alpha1.GenericStore) ([]string, error) {
	spec := store.GetSpec().Provider.Fake
	if spec == nil {
		return nil, providers.Errorf(providers.ErrInvalid, "store has no fake provider block")
	}
	if (spec.AuthSecretRef == nil) != (spec.Token == "") {
		return nil, providers.Errorf(providers.ErrInvalid, "fake: authSecretRef and token must be set together")
	}
	return nil, nil
}

// NormalizeRef accepts every key as written: the fake compares them exactly.
func (*Provider) NormalizeRef(ref providers.Ref) (providers.Ref, error) {
	if ref.Key == "" {
		return ref, providers.Errorf(providers.ErrInvalid, "fake: the key is empty")
	}
	return ref, nil
}

// KeysFoldCase is false: the fake compares keys exactly.
func (*Provider) KeysFoldCase() bool { return false }

// NewClient checks the credential, when the spec asks for one, and snapshots the data.
func (p *Provider) NewClient(ctx context.Context, store vfv1alpha1.GenericStore, kube providers.Kube, namespace string) (providers.Client, error) {
	if _, err := p.Validate(store); err != nil {
		return nil, err
	}
	spec := store.GetSpec().Provider.Fake
	if spec.AuthSecretRef != nil {
		got, err := providers.ReadSecretKey(ctx, kube, *spec.AuthSecretRef, namespace)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(got, []byte(spec.Token)) != 1 {
			return nil, providers.Errorf(providers.ErrForbidden, "fake: credential refused")
		}
	}
	return &client{p: p, store: store.GetNamespace() + "/" + store.GetName(), data: append([]vfv1alpha1.FakeProviderData(nil), spec.Data...)}, nil
}

type client struct {
	p      *Provider
	store  string
	data   []vfv1alpha1.FakeProviderData
	closed atomic.Bool
}

func (c *client) GetSecret(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	c.p.requests.Add(1)
	if c.closed.Load() {
		return providers.Secret{}, errors.New("fake: client is closed")
	}
	if c.p.hook != nil {
		if err := c.p.hook(ctx, c.store, ref); err != nil {
			return providers.Secret{}, err
		}
	}
	var found *vfv1alpha1.FakeProviderData
	for i := range c.data {
		d := &c.data[i]
		if d.Key == ref.Key && (ref.Version == "" || ref.Version == d.Version) {
			found = d // the last entry listed wins for an unpinned read
		}
	}
	if found == nil {
		if ref.Version != "" {
			return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "fake: key %q has no version %q", ref.Key, ref.Version)
		}
		return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "fake: key %q not found", ref.Key)
	}
	return providers.Secret{Value: []byte(found.Value), Version: found.Version}, nil
}

// FindSecrets matches keys by prefix and tags; the last entry of a key
// listed is the one that counts, as for an unpinned read.
func (c *client) FindSecrets(ctx context.Context, req providers.FindRequest) (map[string]providers.Secret, error) {
	if err := req.Call(ctx); err != nil {
		return nil, err
	}
	latest := map[string]*vfv1alpha1.FakeProviderData{}
	for i := range c.data {
		latest[c.data[i].Key] = &c.data[i]
	}
	found := req.NewCollector()
	for _, key := range slices.Sorted(maps.Keys(latest)) {
		if err := found.Listed(); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(key, req.Path) || !providers.HasTags(latest[key].Tags, req.Tags) {
			continue
		}
		if err := found.Add(key); err != nil {
			return nil, err
		}
	}
	return providers.ReadEach(ctx, req, found.Keys(), func(ctx context.Context, key string) (providers.Secret, error) {
		return c.GetSecret(ctx, providers.Ref{Key: key})
	})
}

func (c *client) Check(context.Context) error { return nil }

func (c *client) Close(context.Context) error {
	c.closed.Store(true)
	return nil
}
