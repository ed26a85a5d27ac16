package externalsecret

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/controllers/internal/scope"
)

// VersionProtector lets a version being deleted go once no Pod or pod
// template uses it. Versions carry vaultferry.io/in-use-protection from
// their creation, so whoever deletes one (the garbage collector after its
// ExternalSecret with deletionPolicy Delete, Flux pruning that
// ExternalSecret, a person) leaves it readable to the Pods that hold it, as
// Kubernetes keeps a PersistentVolumeClaim in use. Pruning removes the
// finalizer itself, having checked.
type VersionProtector struct {
	// Client reads the operator's Secrets from the cache and writes.
	client.Client
	// APIReader lists Pods and workloads, which the cache does not hold.
	APIReader client.Reader
	Events    events.EventRecorder
	// InUseRecheck is how often a version in use is looked at again
	// (DefaultInUseRecheck when 0): Pods are not watched.
	InUseRecheck time.Duration
	// Scope limits the namespaces served (all when nil).
	Scope labels.Selector
}

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;patch

// Reconcile removes the protection of a version being deleted that nothing
// uses, and otherwise looks again later.
func (r *VersionProtector) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if inScope, err := scope.Includes(ctx, r.Client, r.Scope, req.Namespace); err != nil || !inScope {
		return ctrl.Result{}, err
	}
	version := &corev1.Secret{}
	if err := r.Get(ctx, req.NamespacedName, version); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !waitsForProtection(version) {
		return ctrl.Result{}, nil
	}
	inUse, err := secretsInUse(ctx, r.APIReader, version.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	if inUse.Has(version.Name) {
		r.Events.Eventf(version, nil, corev1.EventTypeNormal, vfv1alpha1.VersionInUseReason, "Delete",
			"Being deleted: it stays while Pods or pod templates in %s use it, and goes when none does", version.Namespace)
		return requeue.Background(requeue.Jitter(orDefault(r.InUseRecheck, DefaultInUseRecheck))), nil
	}
	if err := unprotect(ctx, r.Client, version); err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).Info("Deleted a version nothing uses any more", "secret", version.Name)
	return ctrl.Result{}, nil
}

// SetupWithManager watches the operator's Secrets, passing versions being
// deleted that still carry the protection.
func (r *VersionProtector) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("version-protection").
		For(&corev1.Secret{}, builder.WithPredicates(predicate.NewPredicateFuncs(waitsForProtection))).
		Complete(r)
}

// waitsForProtection reports whether o is a version being deleted that
// only its protection keeps.
func waitsForProtection(o client.Object) bool {
	return !o.GetDeletionTimestamp().IsZero() && o.GetLabels()[vfv1alpha1.ManagedLabel] == "true" &&
		slices.Contains(o.GetFinalizers(), vfv1alpha1.ProtectionFinalizer)
}

// protect gives versions written before the protection existed their
// finalizer, once (a version being deleted can no longer get one).
func protect(ctx context.Context, c client.Client, versions []corev1.Secret) error {
	for i := range versions {
		version := &versions[i]
		if !version.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(version, vfv1alpha1.ProtectionFinalizer) {
			continue
		}
		before := version.DeepCopy()
		controllerutil.AddFinalizer(version, vfv1alpha1.ProtectionFinalizer)
		if err := c.Patch(ctx, version, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("protecting version %s while in use: %w", version.Name, err)
		}
	}
	return nil
}

// unprotect removes the protection from a version being deleted, which
// lets it go.
func unprotect(ctx context.Context, c client.Client, version *corev1.Secret) error {
	if !controllerutil.ContainsFinalizer(version, vfv1alpha1.ProtectionFinalizer) {
		return nil
	}
	before := version.DeepCopy()
	controllerutil.RemoveFinalizer(version, vfv1alpha1.ProtectionFinalizer)
	// No optimistic lock: the caller's copy predates the deletion, and no
	// one can add a finalizer to an object being deleted, so the list sent
	// loses nothing.
	if err := c.Patch(ctx, version, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing the protection of version %s: %w", version.Name, err)
	}
	return nil
}
