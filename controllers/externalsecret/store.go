package externalsecret

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
)

// resolvedStore is a Ready store and, for a ClusterSecretStore, the remote
// keys the ExternalSecret's namespace may read (nil: any).
type resolvedStore struct {
	store       vfv1alpha1.GenericStore
	allowedKeys []*regexp.Regexp
}

// resolveStore loads the store es names, checks it is Ready and, for a
// ClusterSecretStore, that it admits es's namespace.
func (r *Reconciler) resolveStore(ctx context.Context, es *vfv1alpha1.ExternalSecret) (*resolvedStore, error) {
	ref := es.Spec.SecretStoreRef
	if es.StoreKind() == vfv1alpha1.ClusterSecretStoreKind && r.DisableClusterStores {
		return nil, requeue.New(requeue.Stall, vfv1alpha1.ForbiddenReason,
			fmt.Errorf("ClusterSecretStores are disabled in this operator (--disable-cluster-stores): use a SecretStore in namespace %q", es.Namespace))
	}
	store, err := r.getStore(ctx, es)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, requeue.New(requeue.Wait, vfv1alpha1.StoreNotFoundReason,
				fmt.Errorf("%s %q not found: create it, or fix spec.secretStoreRef", es.StoreKind(), ref.Name))
		}
		return nil, fmt.Errorf("reading %s %q: %w", es.StoreKind(), ref.Name, err)
	}

	resolved := &resolvedStore{store: store}
	if store.GetKind() == vfv1alpha1.ClusterSecretStoreKind {
		ns := &corev1.Namespace{}
		if err := r.Get(ctx, client.ObjectKey{Name: es.Namespace}, ns); err != nil {
			return nil, fmt.Errorf("reading namespace %q: %w", es.Namespace, err)
		}
		allowed, ok, err := admission(store.GetSpec().Conditions, ns)
		if err != nil {
			return nil, requeue.New(requeue.Wait, vfv1alpha1.InvalidProviderConfigReason,
				fmt.Errorf("ClusterSecretStore %q has invalid conditions: %w", ref.Name, err))
		}
		if !ok {
			return nil, requeue.New(requeue.Wait, vfv1alpha1.ForbiddenReason,
				fmt.Errorf("ClusterSecretStore %q does not admit namespace %q: ask the platform team to add it to the store's conditions", ref.Name, es.Namespace))
		}
		resolved.allowedKeys = allowed
	}

	ready := apimeta.FindStatusCondition(store.GetStatus().Conditions, vfv1alpha1.ReadyCondition)
	if ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration != store.GetGeneration() {
		msg := "it has not been validated yet"
		if ready != nil && ready.Status == metav1.ConditionFalse {
			msg = ready.Reason + ": " + ready.Message
		}
		return nil, requeue.New(requeue.Wait, vfv1alpha1.StoreNotReadyReason,
			fmt.Errorf("%s %q is not ready: %s", store.GetKind(), ref.Name, msg))
	}
	return resolved, nil
}

// getStore reads the store es names from the cache: a SecretStore in es's
// namespace, or a ClusterSecretStore.
func (r *Reconciler) getStore(ctx context.Context, es *vfv1alpha1.ExternalSecret) (vfv1alpha1.GenericStore, error) {
	var store vfv1alpha1.GenericStore = &vfv1alpha1.SecretStore{}
	key := client.ObjectKey{Namespace: es.Namespace, Name: es.Spec.SecretStoreRef.Name}
	if es.StoreKind() == vfv1alpha1.ClusterSecretStoreKind {
		store, key.Namespace = &vfv1alpha1.ClusterSecretStore{}, ""
	}
	return store, r.Get(ctx, key, store)
}

// admission decides whether a ClusterSecretStore's conditions admit ns and
// returns the key patterns it may read (nil when any key is allowed). No
// conditions admit every namespace. No I/O.
func admission(conditions []vfv1alpha1.ClusterSecretStoreCondition, ns *corev1.Namespace) (allowedKeys []*regexp.Regexp, admitted bool, err error) {
	if len(conditions) == 0 {
		return nil, true, nil
	}
	anyKey := false
	for _, c := range conditions {
		matched, err := conditionMatches(c, ns)
		if err != nil {
			return nil, false, err
		}
		if !matched {
			continue
		}
		admitted = true
		if len(c.AllowedKeys) == 0 {
			anyKey = true
		}
		for _, pattern := range c.AllowedKeys {
			allowedKeys = append(allowedKeys, keyGlob(strings.ReplaceAll(pattern, "{namespace}", ns.Name)))
		}
	}
	if anyKey {
		return nil, admitted, nil
	}
	return allowedKeys, admitted, nil
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
// * within one, ? one character; everything else is literal.
func keyGlob(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?i)^") // backends such as Key Vault compare names case-insensitively
	for i := 0; i < len(pattern); i++ {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
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

// checkKeyAllowed refuses a remote key outside the store's allowedKeys.
func (s *resolvedStore) checkKeyAllowed(key string) error {
	if s.allowedKeys == nil {
		return nil
	}
	forbidden := func(why string) error {
		return requeue.New(requeue.Stall, vfv1alpha1.ForbiddenReason,
			fmt.Errorf("remote key %q %s ClusterSecretStore %q allows this namespace", key, why, s.store.GetName()))
	}
	if !isCleanKey(key) {
		return forbidden("is not a clean path (no '..', '.', '//', '%' escapes or backslashes), as required for the keys")
	}
	for _, re := range s.allowedKeys {
		if re.MatchString(key) {
			return nil
		}
	}
	return forbidden("is outside the keys")
}

// isCleanKey accepts only keys that every backend reads as written: no
// percent-escapes, backslashes, empty, "." or ".." segments. Anything else
// could name a different secret than the allowedKeys pattern saw.
func isCleanKey(key string) bool {
	if key == "" || strings.ContainsAny(key, "%\\") {
		return false
	}
	for _, seg := range strings.Split(strings.TrimPrefix(key, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
