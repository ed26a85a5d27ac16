// Package externalsecret reconciles ExternalSecrets into versioned, immutable
// Secrets: each distinct content becomes a new Secret named by a keyed hash of
// that content, and superseded versions are kept while anything uses them.
package externalsecret

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/controllers/internal/scope"
	"github.com/vaultferry/vaultferry/providers"
)

// Defaults for the Reconciler's timing knobs.
const (
	// DefaultStoreWait is how long an ExternalSecret waits before rechecking a
	// missing or unready store; the store watch usually wakes it sooner.
	DefaultStoreWait = 30 * time.Second
	// DefaultInUseRecheck is how soon a version held back only because a
	// workload references it is looked at again.
	DefaultInUseRecheck = time.Minute
	// notFoundRecheckCap bounds the wait for a remote secret that does not exist yet.
	notFoundRecheckCap = 5 * time.Minute
)

// Recorder receives sync outcomes, for metrics. Nil means none.
type Recorder interface {
	ObserveSync(es *vfv1alpha1.ExternalSecret, reason string, took time.Duration, expiresAt *time.Time)
	ObserveRollout(es *vfv1alpha1.ExternalSecret, kind, result string)
	ForgetExternalSecret(namespace, name string)
}

// Reconciler syncs ExternalSecrets.
type Reconciler struct {
	// Client reads through the manager's cache (Secrets: managed ones only) and writes.
	client.Client
	// APIReader reads the API server directly: unmanaged Secrets on name
	// conflicts, Pods and workloads when pruning.
	APIReader client.Reader
	// Clients builds and caches one provider client per store.
	Clients *providers.ClientCache
	// HashKey keys the content hash in version names (see LoadOrCreateHashKey).
	HashKey []byte
	// Events records Kubernetes events.
	Events events.EventRecorder
	// Metrics is told about every sync; optional.
	Metrics Recorder

	// DisableClusterStores refuses ExternalSecrets that use a ClusterSecretStore.
	DisableClusterStores bool
	// Scope, when set, limits the reconciler to namespaces with matching labels
	// (--watch-label-selector); others are left to another operator deployment.
	Scope labels.Selector

	// StoreWait and InUseRecheck default to DefaultStoreWait and DefaultInUseRecheck.
	StoreWait, InUseRecheck time.Duration
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=vaultferry.io,resources=externalsecrets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=vaultferry.io,resources=externalsecrets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=vaultferry.io,resources=externalsecrets/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=list
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile loads an ExternalSecret, fetches its data when a refresh is due,
// writes the version that content calls for, prunes superseded versions and
// records the outcome in status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	es := &vfv1alpha1.ExternalSecret{}
	if err := r.Get(ctx, req.NamespacedName, es); err != nil {
		if client.IgnoreNotFound(err) == nil && r.Metrics != nil {
			r.Metrics.ForgetExternalSecret(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if inScope, err := scope.Includes(ctx, r.Client, r.Scope, es.Namespace); err != nil || !inScope {
		return ctrl.Result{}, err
	}
	if !es.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.releaseRetainedVersions(ctx, es)
	}
	if err := r.syncFinalizer(ctx, es); err != nil {
		return ctrl.Result{}, err
	}

	owned, err := r.ownedVersions(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !r.refreshDue(es, owned) && !r.storeChanged(ctx, es) && !r.lostAdmission(ctx, es) {
		before := es.DeepCopy()
		result, err := r.collect(ctx, es, owned, es.Status.CurrentSecretName)
		return result, errors.Join(err, r.patchStatus(ctx, before, es))
	}

	start := r.now()
	forced := es.Annotations[vfv1alpha1.ForceSyncAnnotation] != es.Status.SyncedForceSync
	before := es.DeepCopy()
	var expiresAt *time.Time
	defer func() { result, retErr = r.finalizeStatus(ctx, before, es, start, expiresAt, result, retErr) }()

	store, err := r.resolveStore(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	data, err := r.fetch(ctx, store, es, forced)
	if err != nil {
		return ctrl.Result{}, err
	}
	want, err := desiredSecret(ctx, es, data, r.HashKey)
	if err != nil {
		return ctrl.Result{}, err
	}
	current, err := r.apply(ctx, es, want, owned)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.markSynced(es, current)
	es.Status.StoreGeneration = store.store.GetGeneration()
	expiresAt = data.ExpiresAt
	owned = appendIfMissing(owned, current)
	if rolloutDue(es, forced) {
		r.rollout(ctx, es, current.Name, olderVersions(es, owned, current.Name))
	}
	return r.collect(ctx, es, owned, current.Name)
}

// refreshDue says whether es must be fetched now: its spec or force-sync
// annotation changed, its last sync failed, its current version is gone, or
// its refresh interval has passed.
func (r *Reconciler) refreshDue(es *vfv1alpha1.ExternalSecret, owned []corev1.Secret) bool {
	switch {
	case es.Generation != es.Status.ObservedGeneration,
		es.Annotations[vfv1alpha1.ForceSyncAnnotation] != es.Status.SyncedForceSync,
		!apimeta.IsStatusConditionTrue(es.Status.Conditions, vfv1alpha1.ReadyCondition),
		es.Status.RefreshTime == nil,
		findSecret(owned, es.Status.CurrentSecretName) == nil:
		return true
	}
	return r.untilRefresh(es) <= 0
}

// storeChanged reports whether the store's spec changed since the last sync
// (new server, path or, for the fake provider, data): then es is fetched now.
func (r *Reconciler) storeChanged(ctx context.Context, es *vfv1alpha1.ExternalSecret) bool {
	if es.Status.StoreGeneration == 0 {
		return false
	}
	store, err := r.getStore(ctx, es)
	return err == nil && store.GetGeneration() != es.Status.StoreGeneration
}

// lostAdmission reports whether a ClusterSecretStore no longer admits es's
// namespace (its labels or the store's conditions changed since the last
// sync): then es is re-evaluated now, not at its next refresh.
func (r *Reconciler) lostAdmission(ctx context.Context, es *vfv1alpha1.ExternalSecret) bool {
	if es.StoreKind() != vfv1alpha1.ClusterSecretStoreKind {
		return false
	}
	_, err := r.resolveStore(ctx, es)
	return requeue.As(err, "").Reason == vfv1alpha1.ForbiddenReason
}

// untilRefresh is the time left until the next scheduled fetch; negative when
// overdue, and zero-interval ExternalSecrets (fetch once) never come due.
// The interval is jittered by ±10% so that ExternalSecrets synced together
// do not refresh together, with the same jitter for every check of one
// deadline (seeded by the object and its last refresh, in the whole seconds
// status keeps).
func (r *Reconciler) untilRefresh(es *vfv1alpha1.ExternalSecret) time.Duration {
	every := es.RefreshEvery()
	if every == 0 || es.Status.RefreshTime == nil {
		return time.Duration(1<<63 - 1)
	}
	last := es.Status.RefreshTime.Time
	every = requeue.JitterFor(every, fmt.Sprintf("%s/%d", es.UID, last.Unix()))
	return last.Add(every).Sub(r.now())
}

// ownedVersions lists the Secrets this ExternalSecret controls, from the cache.
func (r *Reconciler) ownedVersions(ctx context.Context, es *vfv1alpha1.ExternalSecret) ([]corev1.Secret, error) {
	list := &corev1.SecretList{}
	if err := r.List(ctx, list, client.InNamespace(es.Namespace), client.MatchingLabels{
		vfv1alpha1.ManagedLabel:        "true",
		vfv1alpha1.ExternalSecretLabel: es.Name,
	}); err != nil {
		return nil, fmt.Errorf("listing versions of %s: %w", es.Name, err)
	}
	owned := list.Items[:0]
	for _, s := range list.Items {
		if metav1.IsControlledBy(&s, es) {
			owned = append(owned, s)
		}
	}
	return owned, nil
}

// markSynced records a successful sync in status.
func (r *Reconciler) markSynced(es *vfv1alpha1.ExternalSecret, current *corev1.Secret) {
	now := metav1.NewTime(r.now())
	es.Status.CurrentSecretName = current.Name
	es.Status.Revision = revisionOf(current)
	es.Status.RefreshTime = &now
	es.Status.SyncedForceSync = es.Annotations[vfv1alpha1.ForceSyncAnnotation]
	es.Status.ObservedGeneration = es.Generation
	apimeta.SetStatusCondition(&es.Status.Conditions, metav1.Condition{
		Type:               vfv1alpha1.ReadyCondition,
		Status:             metav1.ConditionTrue,
		Reason:             vfv1alpha1.SyncedReason,
		Message:            fmt.Sprintf("Synced to %s (revision %d)", current.Name, es.Status.Revision),
		ObservedGeneration: es.Generation,
	})
	apimeta.RemoveStatusCondition(&es.Status.Conditions, vfv1alpha1.ReconcilingCondition)
	apimeta.RemoveStatusCondition(&es.Status.Conditions, vfv1alpha1.StalledCondition)
}

// finalizeStatus owns the status write of a sync: on failure it sets the
// conditions from the classified error, emits an event when the outcome
// changed, picks the requeue, and patches status once.
func (r *Reconciler) finalizeStatus(ctx context.Context, before, es *vfv1alpha1.ExternalSecret, start time.Time, expiresAt *time.Time, result ctrl.Result, err error) (ctrl.Result, error) {
	wasReady := apimeta.FindStatusCondition(before.Status.Conditions, vfv1alpha1.ReadyCondition)
	reason := vfv1alpha1.SyncedReason
	if err != nil {
		failure := requeue.As(err, vfv1alpha1.ProviderErrorReason)
		reason = failure.Reason
		r.markFailed(es, failure)
		if wasReady == nil || wasReady.Reason != failure.Reason || wasReady.Message != failure.Error() {
			r.Events.Eventf(es, nil, corev1.EventTypeWarning, failure.Reason, "Sync", "%s", failure.Error())
		}
		result, err = r.failureResult(es, failure)
	} else if wasReady != nil && wasReady.Status != metav1.ConditionTrue {
		r.Events.Eventf(es, nil, corev1.EventTypeNormal, vfv1alpha1.SyncedReason, "Sync", "Recovered: synced to %s", es.Status.CurrentSecretName)
	}
	if patchErr := r.patchStatus(ctx, before, es); patchErr != nil {
		err = errors.Join(err, patchErr)
	}
	if r.Metrics != nil {
		r.Metrics.ObserveSync(es, reason, r.now().Sub(start), expiresAt)
	}
	return result, err
}

// markFailed sets Ready=False with the failure's reason; Stalled when only a
// spec change can help, Reconciling while retrying.
func (r *Reconciler) markFailed(es *vfv1alpha1.ExternalSecret, failure *requeue.Error) {
	apimeta.SetStatusCondition(&es.Status.Conditions, metav1.Condition{
		Type:               vfv1alpha1.ReadyCondition,
		Status:             metav1.ConditionFalse,
		Reason:             failure.Reason,
		Message:            failure.Error(),
		ObservedGeneration: es.Generation,
	})
	progress := metav1.Condition{Status: metav1.ConditionTrue, Reason: failure.Reason, Message: failure.Error(), ObservedGeneration: es.Generation}
	if failure.Kind == requeue.Stall {
		progress.Type = vfv1alpha1.StalledCondition
		apimeta.RemoveStatusCondition(&es.Status.Conditions, vfv1alpha1.ReconcilingCondition)
		es.Status.ObservedGeneration = es.Generation
	} else {
		progress.Type = vfv1alpha1.ReconcilingCondition
		progress.Reason = vfv1alpha1.ProgressingWithRetryReason
		apimeta.RemoveStatusCondition(&es.Status.Conditions, vfv1alpha1.StalledCondition)
	}
	apimeta.SetStatusCondition(&es.Status.Conditions, progress)
	// The force-sync request was answered, even if with an error; a new
	// value asks again.
	es.Status.SyncedForceSync = es.Annotations[vfv1alpha1.ForceSyncAnnotation]
}

// failureResult applies the requeue policy of controllers/internal/requeue.
func (r *Reconciler) failureResult(es *vfv1alpha1.ExternalSecret, failure *requeue.Error) (ctrl.Result, error) {
	switch failure.Kind {
	case requeue.Wait:
		return requeue.Background(requeue.Jitter(orDefault(r.StoreWait, DefaultStoreWait))), nil
	case requeue.Later:
		after := min(es.RefreshEvery(), notFoundRecheckCap)
		if after == 0 {
			after = notFoundRecheckCap
		}
		return requeue.Background(requeue.Jitter(after)), nil
	case requeue.Stall:
		return ctrl.Result{}, reconcile.TerminalError(failure)
	default:
		return ctrl.Result{}, failure
	}
}

// syncFinalizer keeps the Retain finalizer exactly when deletionPolicy is Retain.
func (r *Reconciler) syncFinalizer(ctx context.Context, es *vfv1alpha1.ExternalSecret) error {
	want := es.Spec.Target.DeletionPolicy == vfv1alpha1.DeletionPolicyRetain
	if want == controllerutil.ContainsFinalizer(es, vfv1alpha1.RetainFinalizer) {
		return nil
	}
	before := es.DeepCopy()
	if want {
		controllerutil.AddFinalizer(es, vfv1alpha1.RetainFinalizer)
	} else {
		controllerutil.RemoveFinalizer(es, vfv1alpha1.RetainFinalizer)
	}
	if err := r.Patch(ctx, es, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("updating finalizers of %s: %w", es.Name, err)
	}
	return nil
}

// releaseRetainedVersions runs when an ExternalSecret with deletionPolicy
// Retain is deleted: its versions lose their owner reference, so the garbage
// collector keeps them, and then the finalizer goes. With Delete, there is no
// finalizer and the garbage collector removes the versions with their owner.
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
	before := es.DeepCopy()
	controllerutil.RemoveFinalizer(es, vfv1alpha1.RetainFinalizer)
	if err := r.Patch(ctx, es, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing finalizer of %s: %w", es.Name, err)
	}
	log.FromContext(ctx).Info("Released versions of deleted ExternalSecret (deletionPolicy Retain)", "versions", len(owned))
	return nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func orDefault(d, fallback time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return fallback
}

func findSecret(secrets []corev1.Secret, name string) *corev1.Secret {
	for i := range secrets {
		if secrets[i].Name == name {
			return &secrets[i]
		}
	}
	return nil
}

// olderVersions names every version of es other than current, from the
// Secrets that exist and from status (a version may be gone from the cache).
func olderVersions(es *vfv1alpha1.ExternalSecret, owned []corev1.Secret, current string) sets.Set[string] {
	older := sets.New[string]()
	for _, s := range owned {
		older.Insert(s.Name)
	}
	for _, v := range es.Status.Versions {
		older.Insert(v.Name)
	}
	older.Delete(current)
	return older
}

func appendIfMissing(secrets []corev1.Secret, s *corev1.Secret) []corev1.Secret {
	if findSecret(secrets, s.Name) != nil {
		return secrets
	}
	return append(secrets, *s)
}
