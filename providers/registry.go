package providers

import (
	"fmt"
	"sort"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// Registry maps provider names to providers. It is a value built in main, not
// a global, so tests register exactly the providers they need.
type Registry struct {
	byName map[string]Provider
}

// NewRegistry returns a registry of the given providers. Two providers with
// the same name are an error.
func NewRegistry(ps ...Provider) (*Registry, error) {
	r := &Registry{byName: make(map[string]Provider, len(ps))}
	for _, p := range ps {
		if _, dup := r.byName[p.Name()]; dup {
			return nil, fmt.Errorf("provider %q registered twice", p.Name())
		}
		r.byName[p.Name()] = p
	}
	return r, nil
}

// MustNewRegistry is NewRegistry for fixed lists in main and tests; it panics on a duplicate.
func MustNewRegistry(ps ...Provider) *Registry {
	r, err := NewRegistry(ps...)
	if err != nil {
		panic(err)
	}
	return r
}

// For returns the provider a store's spec selects.
func (r *Registry) For(store vfv1alpha1.GenericStore) (Provider, error) {
	name := ProviderName(store.GetSpec().Provider)
	if name == "" {
		return nil, Errorf(ErrInvalid, "store %s sets no provider", store.GetName())
	}
	p, ok := r.byName[name]
	if !ok {
		return nil, Errorf(ErrInvalid, "provider %q is not enabled in this operator (enabled: %v)", name, r.Names())
	}
	return p, nil
}

// Names lists the registered providers, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ProviderName is the name of the provider a spec selects, or "" when none is set.
func ProviderName(p vfv1alpha1.SecretStoreProvider) string {
	switch {
	case p.Vault != nil:
		return "vault"
	case p.AWS != nil:
		return "aws"
	case p.AzureKV != nil:
		return "azurekv"
	case p.Fake != nil:
		return "fake"
	default:
		return ""
	}
}
