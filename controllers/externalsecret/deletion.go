package externalsecret

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
)

// wantedFinalizers says which of the operator's finalizers es should carry:
// Retain releases its versions before it goes; Delete (static sources)
// deletes them only once no Pod or pod template uses them, as Kubernetes
// protects a PersistentVolumeClaim in use; a dynamic source revokes its
// leases. No I/O.
func wantedFinalizers(es *vfv1alpha1.ExternalSecret) map[string]bool {
	retain := es.Spec.Target.DeletionPolicy == vfv1alpha1.DeletionPolicyRetain
	dynamic := es.Spec.Dynamic != nil
	return map[string]bool{
		vfv1alpha1.RetainFinalizer: retain,
		vfv1alpha1.InUseFinalizer:  !retain && !dynamic,
		vfv1alpha1.LeaseFinalizer:  dynamic,
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

// finalize runs while es is being deleted: it revokes leases, releases
// retained versions and deletes the others once nothing uses them, each
// step removing its own finalizer when done.
func (r *Reconciler) finalize(ctx context.Context, es *vfv1alpha1.ExternalSecret) (ctrl.Result, error) {
	if err := r.revokeOnDeletion(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.releaseRetainedVersions(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	return r.deleteVersionsWhenUnused(ctx, es)
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

// deleteVersionsWhenUnused runs when an ExternalSecret with deletionPolicy
// Delete is deleted: the versions nothing uses are deleted at once; while a
// Pod or pod template still names one, es stays (Terminating, Ready=False
// VersionsInUse) and looks again every InUseRecheck. The garbage collector
// would otherwise delete every version with es, under running Pods.
func (r *Reconciler) deleteVersionsWhenUnused(ctx context.Context, es *vfv1alpha1.ExternalSecret) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(es, vfv1alpha1.InUseFinalizer) {
		return ctrl.Result{}, nil
	}
	owned, err := r.ownedVersions(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	inUse, err := secretsInUse(ctx, r.APIReader, es.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	var used []string
	for i := range owned {
		version := &owned[i]
		if inUse.Has(version.Name) {
			used = append(used, version.Name)
			continue
		}
		err := r.Delete(ctx, version, client.Preconditions{UID: &version.UID})
		if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return ctrl.Result{}, fmt.Errorf("deleting version %s of deleted ExternalSecret: %w", version.Name, err)
		}
	}
	if len(used) > 0 {
		return requeue.Background(requeue.Jitter(orDefault(r.InUseRecheck, DefaultInUseRecheck))), r.noteVersionsInUse(ctx, es, used)
	}
	if err := r.removeFinalizer(ctx, es, vfv1alpha1.InUseFinalizer); err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).Info("Deleted the versions of deleted ExternalSecret (deletionPolicy Delete)", "versions", len(owned))
	return ctrl.Result{}, nil
}

// noteVersionsInUse says, in Ready and in an event when the list changes,
// why a deleted ExternalSecret is still there.
func (r *Reconciler) noteVersionsInUse(ctx context.Context, es *vfv1alpha1.ExternalSecret, used []string) error {
	cond := versionsInUseCondition(es, used)
	if ready := apimeta.FindStatusCondition(es.Status.Conditions, vfv1alpha1.ReadyCondition); ready != nil && ready.Message == cond.Message {
		return nil
	}
	before := es.DeepCopy()
	apimeta.SetStatusCondition(&es.Status.Conditions, cond)
	r.Events.Eventf(es, nil, corev1.EventTypeNormal, cond.Reason, "Delete", "%s", cond.Message)
	return r.patchStatus(ctx, before, es)
}

// versionsInUseCondition is Ready=False VersionsInUse naming the versions
// that keep a deleted ExternalSecret. No I/O.
func versionsInUseCondition(es *vfv1alpha1.ExternalSecret, used []string) metav1.Condition {
	slices.Sort(used)
	return metav1.Condition{
		Type:   vfv1alpha1.ReadyCondition,
		Status: metav1.ConditionFalse,
		Reason: vfv1alpha1.VersionsInUseReason,
		Message: fmt.Sprintf("Deleted, waiting for Pods and pod templates in namespace %s to stop using %s: each version is deleted when nothing uses it, then this ExternalSecret goes",
			es.Namespace, strings.Join(used, ", ")),
		ObservedGeneration: es.Generation,
	}
}

func (r *Reconciler) removeFinalizer(ctx context.Context, es *vfv1alpha1.ExternalSecret, finalizer string) error {
	before := es.DeepCopy()
	controllerutil.RemoveFinalizer(es, finalizer)
	if err := r.Patch(ctx, es, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing finalizer %s of %s: %w", finalizer, es.Name, err)
	}
	return nil
}
