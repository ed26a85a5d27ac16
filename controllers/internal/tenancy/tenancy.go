// Package tenancy is the operator's tenant isolation policy, kept apart so it
// can be read and tested as one piece: which namespaces a ClusterSecretStore
// admits, which remote keys an admitted namespace may read (allowedKeys) and
// where it may issue credentials (dynamic grants). What a clean key or a
// canonical path is lives in providers/paths, shared with the providers'
// own last checks. No I/O.
package tenancy

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// NamespacePlaceholder in an allowedKeys pattern stands for the namespace
// of the ExternalSecret.
const NamespacePlaceholder = "{namespace}"

// KeyPolicy is what an admitted namespace may read through a store: the
// allowedKeys patterns of every condition that admitted it, with the
// namespace filled in. The zero value allows every key.
type KeyPolicy struct {
	patterns []string
}

// AllowsAll reports whether every key is allowed.
func (p KeyPolicy) AllowsAll() bool { return p.patterns == nil }

// Allows reports whether key is clean (see paths.CleanKey: with or without
// patterns, an unclean key is never allowed) and matches one of the
// patterns. foldCase is the backend's own comparison of names: true only
// for backends that compare names without regard to case (Azure Key Vault);
// Vault and AWS do not, and "TENANTS/A/db" is a different secret than
// "tenants/a/db" there.
func (p KeyPolicy) Allows(key string, foldCase bool) bool {
	if !paths.CleanKey(key) {
		return false
	}
	if p.AllowsAll() {
		return true
	}
	for _, pattern := range p.patterns {
		if paths.Glob(pattern, foldCase).MatchString(key) {
			return true
		}
	}
	return false
}

// MayContain reports whether a key below folder could be allowed: false
// when no pattern can reach inside it, so that a search does not even list
// another tenant's folders. It compares each pattern's literal part up to
// its first wildcard, which never prunes a folder holding an allowed key.
func (p KeyPolicy) MayContain(folder string, foldCase bool) bool {
	folder = strings.Trim(folder, "/")
	if p.AllowsAll() || folder == "" {
		return true
	}
	folder += "/"
	for _, pattern := range p.patterns {
		literal := pattern
		if i := strings.IndexAny(pattern, "*?"); i >= 0 {
			literal = pattern[:i]
		}
		if foldCase {
			literal, folder = strings.ToLower(literal), strings.ToLower(folder)
		}
		if strings.HasPrefix(folder, literal) || strings.HasPrefix(literal, folder) {
			return true
		}
	}
	return false
}

// Admission is what a store lets an admitted namespace do: read the keys
// of Keys, and issue credentials where Dynamic grants it.
type Admission struct {
	Keys    KeyPolicy
	Dynamic DynamicPolicy
}

// ForSecretStore is the admission of a namespaced store's own namespace:
// every key (its own credentials decide), and the dynamic paths the store
// grants.
func ForSecretStore(spec *vfv1alpha1.SecretStoreSpec) Admission {
	return Admission{Dynamic: DynamicPolicy{store: spec.Dynamic}}
}

// Admit decides whether a ClusterSecretStore admits namespace ns and
// returns what it may do there. No conditions admit every namespace. An
// admitting condition without allowedKeys allows every key; dynamic
// credentials need both the store's spec.dynamic and an admitting
// condition's allowedDynamic.
func Admit(spec *vfv1alpha1.SecretStoreSpec, ns *corev1.Namespace) (Admission, bool, error) {
	admission := Admission{Dynamic: DynamicPolicy{store: spec.Dynamic, scoped: true}}
	if len(spec.Conditions) == 0 {
		return admission, true, nil
	}
	admitted, anyKey := false, false
	var patterns []string
	for _, c := range spec.Conditions {
		matched, err := conditionMatches(c, ns)
		if err != nil {
			return Admission{}, false, err
		}
		if !matched {
			continue
		}
		admitted = true
		if len(c.AllowedKeys) == 0 {
			anyKey = true
		}
		for _, pattern := range c.AllowedKeys {
			patterns = append(patterns, strings.ReplaceAll(pattern, NamespacePlaceholder, ns.Name))
		}
		for _, g := range c.AllowedDynamic {
			g.Path = strings.ReplaceAll(g.Path, NamespacePlaceholder, ns.Name)
			admission.Dynamic.namespace = append(admission.Dynamic.namespace, g)
		}
	}
	if !admitted {
		return Admission{}, false, nil
	}
	if !anyKey {
		admission.Keys = KeyPolicy{patterns: patterns}
	}
	return admission, true, nil
}

func conditionMatches(c vfv1alpha1.ClusterSecretStoreCondition, ns *corev1.Namespace) (bool, error) {
	for _, name := range c.Namespaces {
		if name == ns.Name {
			return true, nil
		}
	}
	if c.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(c.NamespaceSelector)
		if err != nil {
			return false, fmt.Errorf("namespaceSelector: %w", err)
		}
		if sel.Matches(labels.Set(ns.Labels)) {
			return true, nil
		}
	}
	for _, expr := range c.NamespaceRegexes {
		re, err := regexp.Compile("^(?:" + expr + ")$")
		if err != nil {
			return false, fmt.Errorf("namespaceRegexes: %w", err)
		}
		if re.MatchString(ns.Name) {
			return true, nil
		}
	}
	return false, nil
}
