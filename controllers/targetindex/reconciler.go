// Package targetindex keeps one TargetIndex per namespace: the immutable
// targets of the namespace's ExternalSecrets and their versions, which the
// stable-reference admission policies read once per Pod. One parameter per
// namespace, rather than one per ExternalSecret, keeps Pod admission as fast
// with 200 ExternalSecrets as with none (make bench).
package targetindex

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/scope"
)

// +kubebuilder:rbac:groups=vaultferry.io,resources=targetindexes,verbs=get;list;watch;create;update;delete

// Reconciler writes the TargetIndex of a namespace.
type Reconciler struct {
	client.Client
	// APIReader reads Pods, ReplicaSets and workloads, which the manager
	// does not cache (or caches stripped), from the API server.
	APIReader client.Reader
	// Events records the workloads and Pods resolved after indexing.
	Events events.EventRecorder
	// Scope limits the namespaces served (all when nil).
	Scope labels.Selector
}

// Reconcile makes the namespace's TargetIndex list what its ExternalSecrets
// say, deleting it when there is nothing to list.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if inScope, err := scope.Includes(ctx, r.Client, r.Scope, req.Namespace); err != nil || !inScope {
		return ctrl.Result{}, err
	}
	list := &vfv1alpha1.ExternalSecretList{}
	if err := r.List(ctx, list, client.InNamespace(req.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing ExternalSecrets of %s: %w", req.Namespace, err)
	}
	want := Build(req.Namespace, list.Items)

	index := &vfv1alpha1.TargetIndex{}
	err := r.Get(ctx, req.NamespacedName, index)
	switch {
	case apierrors.IsNotFound(err) && want.TargetCount == 0:
		return ctrl.Result{}, nil
	case apierrors.IsNotFound(err):
		want.Labels = map[string]string{"app.kubernetes.io/managed-by": "vaultferry"}
		log.FromContext(ctx).V(1).Info("Creating the target index", "targets", want.TargetCount)
		if err := r.Create(ctx, want); err != nil {
			return ctrl.Result{}, client.IgnoreAlreadyExists(err)
		}
		return ctrl.Result{}, r.resolveUnresolvedPods(ctx, req.Namespace, want, newlyServed(nil, want))
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("reading the target index of %s: %w", req.Namespace, err)
	case want.TargetCount == 0:
		return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, index))
	case sameEntries(index, want):
		return ctrl.Result{}, nil
	}
	newly := newlyServed(index, want)
	index.Targets, index.Versions, index.Pending, index.PinAnnotations, index.TargetCount = want.Targets, want.Versions, want.Pending, want.PinAnnotations, want.TargetCount
	if err := r.Update(ctx, index); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.resolveUnresolvedPods(ctx, req.Namespace, index, newly)
}

// SetupWithManager watches ExternalSecrets, waking their namespace only when
// what they contribute to the index changed, and the indexes themselves, so
// an index edited or deleted by hand is put back.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("targetindex").
		For(&vfv1alpha1.TargetIndex{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetName() == vfv1alpha1.TargetIndexName
		}))).
		Watches(&vfv1alpha1.ExternalSecret{}, handler.EnqueueRequestsFromMapFunc(indexOf), builder.WithPredicates(entryChanged())).
		Complete(r)
}

func sameEntries(a, b *vfv1alpha1.TargetIndex) bool {
	return a.TargetCount == b.TargetCount && equality.Semantic.DeepEqual(a.Targets, b.Targets) && equality.Semantic.DeepEqual(a.Versions, b.Versions) &&
		equality.Semantic.DeepEqual(a.Pending, b.Pending) && equality.Semantic.DeepEqual(a.PinAnnotations, b.PinAnnotations)
}

func indexOf(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: vfv1alpha1.TargetIndexName}}}
}

// entryChanged passes ExternalSecret updates that change their index entry.
func entryChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		oldTarget, oldEntry, oldOK := EntryOf(e.ObjectOld.(*vfv1alpha1.ExternalSecret))
		newTarget, newEntry, newOK := EntryOf(e.ObjectNew.(*vfv1alpha1.ExternalSecret))
		return oldOK != newOK || oldTarget != newTarget || oldEntry != newEntry
	}}
}
