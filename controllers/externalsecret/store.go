package externalsecret

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/controllers/internal/tenancy"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// resolvedStore is a Ready store, its provider and what the
// ExternalSecret's namespace may do through it: read the remote keys of
// allowedKeys (all, for a SecretStore), issue credentials where dynamic
// grants it.
type resolvedStore struct {
	store       vfv1alpha1.GenericStore
	provider    providers.Provider
	allowedKeys tenancy.KeyPolicy
	dynamic     tenancy.DynamicPolicy
	// tenant is the namespace of the ExternalSecret.
	tenant string
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
				fmt.Errorf("%s %q not found%s: create it, or fix spec.secretStoreRef", es.StoreKind(), ref.Name, r.otherKindHint(ctx, es)))
		}
		return nil, fmt.Errorf("reading %s %q: %w", es.StoreKind(), ref.Name, err)
	}

	provider, err := r.Clients.ProviderFor(store)
	if err != nil {
		return nil, requeue.New(requeue.Wait, vfv1alpha1.StoreNotReadyReason, fmt.Errorf("%s %q: %w", store.GetKind(), ref.Name, err))
	}
	admission := tenancy.ForSecretStore(store.GetSpec())
	if store.GetKind() == vfv1alpha1.ClusterSecretStoreKind {
		ns := &corev1.Namespace{}
		if err := r.Get(ctx, client.ObjectKey{Name: es.Namespace}, ns); err != nil {
			return nil, fmt.Errorf("reading namespace %q: %w", es.Namespace, err)
		}
		var ok bool
		admission, ok, err = tenancy.Admit(store.GetSpec(), ns)
		if err != nil {
			return nil, requeue.New(requeue.Wait, vfv1alpha1.InvalidProviderConfigReason,
				fmt.Errorf("ClusterSecretStore %q has invalid conditions: %w", ref.Name, err))
		}
		if !ok {
			return nil, requeue.New(requeue.Wait, vfv1alpha1.ForbiddenReason,
				fmt.Errorf("ClusterSecretStore %q does not admit namespace %q: ask the platform team to add it to the store's conditions", ref.Name, es.Namespace))
		}
	}
	resolved := &resolvedStore{store: store, provider: provider, allowedKeys: admission.Keys, dynamic: admission.Dynamic, tenant: es.Namespace}

	// A store keeps serving with its last good validation while an edit of
	// its spec is being validated: only a validation that fails stops it.
	ready := apimeta.FindStatusCondition(store.GetStatus().Conditions, vfv1alpha1.ReadyCondition)
	if ready == nil {
		// Not validated yet (a new store, or a fresh install starting on
		// existing objects): nothing failed, so no condition, event or status
		// write; the store's Ready wakes this ExternalSecret.
		return nil, &requeue.Error{Kind: requeue.Defer, Reason: vfv1alpha1.StoreNotReadyReason, After: orDefault(r.StoreWait, DefaultStoreWait),
			Err: fmt.Errorf("%s %q has not been validated yet", store.GetKind(), ref.Name)}
	}
	if ready.Status != metav1.ConditionTrue {
		msg := ready.Reason
		if ready.Status == metav1.ConditionFalse {
			msg = ready.Reason + ": " + ready.Message
		}
		return nil, requeue.New(requeue.Wait, vfv1alpha1.StoreNotReadyReason,
			fmt.Errorf("%s %q is not ready: %s", store.GetKind(), ref.Name, msg))
	}
	return resolved, nil
}

// otherKindHint says when a store of the same name exists as the other kind:
// the usual cause of StoreNotFound is a missing or wrong secretStoreRef.kind.
func (r *Reconciler) otherKindHint(ctx context.Context, es *vfv1alpha1.ExternalSecret) string {
	name := es.Spec.SecretStoreRef.Name
	if es.StoreKind() == vfv1alpha1.ClusterSecretStoreKind {
		if r.Get(ctx, client.ObjectKey{Namespace: es.Namespace, Name: name}, &vfv1alpha1.SecretStore{}) == nil {
			return fmt.Sprintf(" (a SecretStore %q exists in this namespace: set secretStoreRef.kind: SecretStore)", name)
		}
		return ""
	}
	if r.Get(ctx, client.ObjectKey{Name: name}, &vfv1alpha1.ClusterSecretStore{}) == nil {
		return fmt.Sprintf(" in namespace %q (a ClusterSecretStore %q exists: set secretStoreRef.kind: ClusterSecretStore)", es.Namespace, name)
	}
	return fmt.Sprintf(" in namespace %q", es.Namespace)
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

// checkKeyAllowed refuses a remote key outside the store's allowedKeys,
// compared as the backend compares names.
func (s *resolvedStore) checkKeyAllowed(key string) error {
	if s.allowedKeys.Allows(key, s.provider.KeysFoldCase()) {
		return nil
	}
	why := "is outside the keys"
	if !paths.CleanKey(key) {
		why = "is not a clean path (no '..', '.', '//', '%' escapes, backslashes or control characters), as required for the keys"
	}
	return requeue.New(requeue.Stall, vfv1alpha1.ForbiddenReason,
		fmt.Errorf("remote key %q %s ClusterSecretStore %q allows this namespace", key, why, s.store.GetName()))
}

// checkDynamicAllowed refuses a dynamic source whose path is not canonical
// or that the store does not grant, with this method, to the namespace.
func (s *resolvedStore) checkDynamicAllowed(path string, method vfv1alpha1.DynamicMethod) error {
	if err := paths.CheckDynamic(path); err != nil {
		return requeue.New(requeue.Stall, vfv1alpha1.InvalidSpecReason,
			fmt.Errorf("dynamic.path %q: %w: write it as Vault reads it, for example database/creds/app", path, err))
	}
	if s.dynamic.Allows(path, method) {
		return nil
	}
	return requeue.New(requeue.Stall, vfv1alpha1.ForbiddenReason,
		fmt.Errorf("%s %q does not grant issuing from %q with method %s to namespace %q: %s; ask the platform team to grant it",
			s.store.GetKind(), s.store.GetName(), path, method, s.tenant, s.dynamic.Grants()))
}

// mayUseLease reports whether the lease id, issued by the operator for this
// ExternalSecret, may be renewed or revoked through the store: it names a
// canonical path the store still grants to the namespace. Vault's lease ids
// are "<path>/<id>", so this is the path check of the bytes sent.
func (s *resolvedStore) mayUseLease(leaseID string) bool {
	path, ok := paths.LeasePath(leaseID)
	return ok && s.dynamic.AllowsAnyMethod(path)
}
