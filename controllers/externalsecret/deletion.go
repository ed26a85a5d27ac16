package externalsecret

import (
	"context"
	"fmt"
	"slices"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// wantedFinalizers says which of the operator's finalizers es should carry:
// Retain releases its versions before it goes; a dynamic source revokes its
// leases. With Delete the garbage collector deletes the versions, each
// staying while in use (ProtectionFinalizer on the version). No I/O.
func wantedFinalizers(es *vfv1alpha1.ExternalSecret) map[string]bool {
	return map[string]bool{
		vfv1alpha1.RetainFinalizer: es.Spec.Target.DeletionPolicy == vfv1alpha1.DeletionPolicyRetain,
		vfv1alpha1.LeaseFinalizer:  es.Spec.Dynamic != nil,
	}
}

// syncFinalizer gives es exactly the finalizers wantedFinalizers names, in
// one write when any is missing or extra.
func (r *Reconciler) syncFinalizer(ctx context.Context, es *vfv1alpha1.ExternalSecret) error {
	want := wantedFinalizers(es)
	before := es.DeepCopy()
	for finalizer, on := range want {
		if on {
			controllerutil.AddFinalizer(es, finalizer)
		} else {
			controllerutil.RemoveFinalizer(es, finalizer)
		}
	}
	if slices.Equal(before.Finalizers, es.Finalizers) {
		return nil
	}
	if err := r.Patch(ctx, es, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("updating finalizers of %s: %w", es.Name, err)
	}
	return nil
}

// finalize runs while es is being deleted: it revokes leases and releases
// retained versions, each step removing its own finalizer when done.
func (r *Reconciler) finalize(ctx context.Context, es *vfv1alpha1.ExternalSecret) (ctrl.Result, error) {
	if err := r.revokeOnDeletion(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.releaseRetainedVersions(ctx, es)
}

// releaseRetainedVersions runs when an ExternalSecret with deletionPolicy
// Retain is deleted: its versions lose their owner reference, so the garbage
// collector keeps them, and then the finalizer goes.
func (r *Reconciler) releaseRetainedVersions(ctx context.Context, es *vfv1alpha1.ExternalSecret) error {
	if !controllerutil.ContainsFinalizer(es, vfv1alpha1.RetainFinalizer) {
		return nil
	}
	owned, err := r.ownedVersions(ctx, es)
	if err != nil {
		return err
	}
	for i := range owned {
		s := &owned[i]
		before := s.DeepCopy()
		s.OwnerReferences = nil
		if err := r.Patch(ctx, s, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("releasing version %s: %w", s.Name, err)
		}
	}
	if err := r.removeFinalizer(ctx, es, vfv1alpha1.RetainFinalizer); err != nil {
		return err
	}
	log.FromContext(ctx).Info("Released versions of deleted ExternalSecret (deletionPolicy Retain)", "versions", len(owned))
	return nil
}

func (r *Reconciler) removeFinalizer(ctx context.Context, es *vfv1alpha1.ExternalSecret, finalizer string) error {
	before := es.DeepCopy()
	controllerutil.RemoveFinalizer(es, finalizer)
	if err := r.Patch(ctx, es, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing finalizer %s of %s: %w", finalizer, es.Name, err)
	}
	return nil
}
