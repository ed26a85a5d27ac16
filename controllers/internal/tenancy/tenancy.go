// Package tenancy is the operator's tenant isolation policy, kept apart so it
// can be read and tested as one piece: which namespaces a ClusterSecretStore
// admits, which remote keys an admitted namespace may read (allowedKeys), and
// which keys are clean enough to be compared at all. No I/O.
package tenancy

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
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

// Allows reports whether key matches one of the patterns. foldCase is the
// backend's own comparison of names: true only for backends that compare
// names without regard to case (Azure Key Vault); Vault and AWS do not, and
// "TENANTS/A/db" is a different secret than "tenants/a/db" there. The key
// must also be clean (see CleanKey).
func (p KeyPolicy) Allows(key string, foldCase bool) bool {
	if p.AllowsAll() {
		return true
	}
	if !CleanKey(key) {
		return false
	}
	for _, pattern := range p.patterns {
		if keyGlob(pattern, foldCase).MatchString(key) {
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

// Admit decides whether a ClusterSecretStore's conditions admit namespace ns
// and returns the keys it may read. No conditions admit every namespace. An
// admitting condition without allowedKeys allows every key.
func Admit(conditions []vfv1alpha1.ClusterSecretStoreCondition, ns *corev1.Namespace) (keys KeyPolicy, admitted bool, err error) {
	if len(conditions) == 0 {
		return KeyPolicy{}, true, nil
	}
	anyKey := false
	var patterns []string
	for _, c := range conditions {
		matched, err := conditionMatches(c, ns)
		if err != nil {
			return KeyPolicy{}, false, err
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
	}
	if anyKey || !admitted {
		return KeyPolicy{}, admitted, nil
	}
	return KeyPolicy{patterns: patterns}, true, nil
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

// keyGlob compiles an allowedKeys pattern: ** matches across path segments,
// * within one, ? one character of one; everything else is literal, and
// compared without regard to case only when foldCase.
func keyGlob(pattern string, foldCase bool) *regexp.Regexp {
	var b strings.Builder
	if foldCase {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString("(?s:.*)")
			i++
		case pattern[i] == '*':
			b.WriteString("[^/]*")
		case pattern[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// CleanKey accepts only keys that every backend reads as written: no
// percent-escapes, backslashes, control characters, empty, "." or ".."
// segments. Anything else could name a different secret than the one an
// allowedKeys pattern saw (Vault's client cleans "a/../b" to "b").
func CleanKey(key string) bool {
	if key == "" || strings.ContainsAny(key, "%\\") {
		return false
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	for _, seg := range strings.Split(strings.TrimPrefix(key, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
