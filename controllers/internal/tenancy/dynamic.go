package tenancy

import (
	"fmt"
	"strings"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// DynamicPolicy is where a namespace may issue credentials through a store
// and with which methods. The zero value grants nothing.
type DynamicPolicy struct {
	// store is the store's spec.dynamic.
	store []vfv1alpha1.DynamicGrant
	// namespace is, for a ClusterSecretStore (scoped), the allowedDynamic of
	// every condition admitting the namespace, with the namespace filled in.
	namespace []vfv1alpha1.DynamicGrant
	scoped    bool
}

// Allows reports whether path, which must be canonical, may be used with
// method: the store grants it and, through a ClusterSecretStore, so does a
// condition admitting the namespace.
func (p DynamicPolicy) Allows(path string, method vfv1alpha1.DynamicMethod) bool {
	if paths.CheckDynamic(path) != nil || !paths.Granted(p.store, path, method) {
		return false
	}
	return !p.scoped || paths.Granted(p.namespace, path, method)
}

// AllowsAnyMethod reports whether path may be used at all (to renew or
// revoke a lease issued from it).
func (p DynamicPolicy) AllowsAnyMethod(path string) bool {
	return p.Allows(path, vfv1alpha1.DynamicRead) || p.Allows(path, vfv1alpha1.DynamicWrite)
}

// Grants says, for error messages, what is granted at all.
func (p DynamicPolicy) Grants() string {
	if len(p.store) == 0 {
		return "the store grants no dynamic paths (its spec.dynamic is empty)"
	}
	if p.scoped && len(p.namespace) == 0 {
		return "no condition of the ClusterSecretStore admitting this namespace has allowedDynamic"
	}
	describe := func(grants []vfv1alpha1.DynamicGrant) string {
		parts := make([]string, 0, len(grants))
		for _, g := range grants {
			parts = append(parts, fmt.Sprintf("%s %v", g.Path, g.Methods))
		}
		return strings.Join(parts, ", ")
	}
	if p.scoped {
		return fmt.Sprintf("the store grants %s; this namespace's conditions allow %s", describe(p.store), describe(p.namespace))
	}
	return "the store grants " + describe(p.store)
}
