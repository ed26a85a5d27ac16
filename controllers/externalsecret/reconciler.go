// Package externalsecret reconciles ExternalSecrets into versioned, immutable
// Secrets: each distinct content becomes a new Secret named by a keyed hash of
// that content, and superseded versions are kept while anything uses them.
package externalsecret

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"

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
	ObserveLeaseRenewal(es *vfv1alpha1.ExternalSecret, ok bool)
	ObserveLeases(es *vfv1alpha1.ExternalSecret, current, superseded int, earliest time.Time)
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

	// MinRefreshInterval is the shortest refresh interval any ExternalSecret
	// gets (--min-refresh-interval); stores may raise it further.
	MinRefreshInterval time.Duration

	// StoreWait and InUseRecheck default to DefaultStoreWait and DefaultInUseRecheck.
	StoreWait, InUseRecheck time.Duration
	// RolloutBatchWindow (default DefaultRolloutBatchWindow) is how long a
	// new version waits before workloads roll, to roll them once for
	// ExternalSecrets rotating together.
	RolloutBatchWindow time.Duration
	// StableReferences says the stable-reference admission policies are
	// installed: rollouts pin versions on pod templates instead of only
	// rewriting references to older versions.
	StableReferences bool
	// TemplateSources reads the metadata of ConfigMaps and Secrets that
	// templateFrom names (see NewTemplateSourceCache); nil: changes of
	// template sources are not watched.
	TemplateSources cache.Cache
	// Now is the clock; tests may replace it.
	Now func() time.Time

	// pending holds data fetched by syncs that then failed on the
	// Kubernetes side, by pendingKey (see fetchOrReuse).
	pending sync.Map
	// controller is this reconciler's controller, which watches template
	// sources from the first ExternalSecret with templateFrom on.
	controller    controller.Controller
	templateWatch struct {
		sync.Mutex
		started bool
	}
	// refreshed holds, by pendingKey, a refreshRecord: when this process
	// last read an ExternalSecret's data. status.refreshTime is written only
	// when a sync changes something (see keepRecordedRefreshTime), so that a
	// refresh finding nothing new writes nothing.
	refreshed sync.Map
}

// +kubebuilder:rbac:groups=vaultferry.io,resources=externalsecrets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=vaultferry.io,resources=externalsecrets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=vaultferry.io,resources=externalsecrets/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile loads an ExternalSecret, fetches its data when a refresh is due,
// writes the version that content calls for, prunes superseded versions and
// records the outcome in status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	es := &vfv1alpha1.ExternalSecret{}
	if err := r.Get(ctx, req.NamespacedName, es); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.pending.Delete(req.NamespacedName)
			r.refreshed.Delete(req.NamespacedName)
			if r.Metrics != nil {
				r.Metrics.ForgetExternalSecret(req.Namespace, req.Name)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if inScope, err := scope.Includes(ctx, r.Client, r.Scope, es.Namespace); err != nil || !inScope {
		return ctrl.Result{}, err
	}
	if !es.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, es)
	}
	if err := r.syncFinalizer(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.watchTemplateSources(es); err != nil {
		return ctrl.Result{}, err
	}

	before := es.DeepCopy()
	run := &syncRun{start: r.now()}
	defer func() { result, retErr = r.finalizeStatus(ctx, before, es, run, result, retErr) }()

	owned, err := r.ownedVersions(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.noteShadowedSecret(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.checkTargetClaim(ctx, es); err != nil {
		return ctrl.Result{}, err
	}
	if es.Spec.Dynamic != nil {
		return r.syncDynamic(ctx, es, owned, run)
	}
	if !r.refreshDue(ctx, es, owned) {
		acknowledgeSpec(es)
		return r.rolloutAndCollect(ctx, es, owned)
	}

	run.synced = true
	forced := es.ForceSyncRequested()
	store, err := r.resolveStore(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	data, err := r.fetchOrReuse(ctx, store, es, forced)
	if err != nil {
		return ctrl.Result{}, err
	}
	sources, err := r.readTemplateSources(ctx, es)
	if err != nil {
		return ctrl.Result{}, err
	}
	prior, err := r.priorVersions(ctx, es, owned, sources)
	if err != nil {
		return ctrl.Result{}, err
	}
	want, err := desiredSecret(ctx, es, data, sources, prior, r.HashKey)
	if err != nil {
		return ctrl.Result{}, err
	}
	current, err := r.apply(ctx, es, want, owned)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.markSynced(es, current)
	es.Status.StoreGeneration = store.store.GetGeneration()
	es.Status.TemplateSources = sources.versions
	run.expiresAt = data.ExpiresAt
	if forced {
		// force-sync rolls the current version out again
		es.Status.RolloutRevision = min(es.Status.RolloutRevision, es.Status.Revision-1)
	}
	return r.rolloutAndCollect(ctx, es, appendIfMissing(owned, current))
}

// rolloutAndCollect rolls workloads to the current version when that is due
// and collects versions; the result wakes es for whichever comes first: the
// end of the rollout batch window or the next refresh or recheck.
func (r *Reconciler) rolloutAndCollect(ctx context.Context, es *vfv1alpha1.ExternalSecret, owned []corev1.Secret) (ctrl.Result, error) {
	r.applyHold(es)
	wait := r.rolloutWhenDue(ctx, es, owned)
	result, err := r.collect(ctx, es, owned, es.Status.CurrentSecretName)
	if wait > 0 && (result.RequeueAfter == 0 || wait < result.RequeueAfter) {
		result = ctrl.Result{RequeueAfter: wait}
	}
	return result, err
}

// syncRun is what the deferred status writer needs to know of a reconcile.
type syncRun struct {
	start time.Time
	// synced is set when the reconcile fetched (a sync, counted in the
	// metrics), not only collected versions.
	synced    bool
	expiresAt *time.Time
}

// refreshDue says whether es must be fetched now: its spec or force-sync
// annotation changed, its current version is gone, its last sync failed, its
// refresh interval has passed, or its store changed. A sync that failed on
// the Kubernetes side after fetching is retried with the data fetched then
// (see fetchOrReuse); one that failed while collecting versions is retried
// without fetching: an API-server problem must not add load on the vault.
func (r *Reconciler) refreshDue(ctx context.Context, es *vfv1alpha1.ExternalSecret, owned []corev1.Secret) bool {
	ready := apimeta.FindStatusCondition(es.Status.Conditions, vfv1alpha1.ReadyCondition)
	policy := es.Refresh()
	switch {
	case es.ForceSyncRequested(),
		es.Status.RefreshTime == nil,
		findSecret(owned, es.Status.CurrentSecretName) == nil,
		policy != vfv1alpha1.RefreshCreatedOnce && es.Generation != es.Status.ObservedGeneration:
		return true
	case ready == nil || ready.Status != metav1.ConditionTrue:
		if ready == nil || ready.Reason != vfv1alpha1.KubernetesAPIErrorReason {
			return true
		}
		if _, fetched := r.pending.Load(pendingKey(es)); fetched {
			return true
		}
	}
	switch policy {
	case vfv1alpha1.RefreshPeriodic:
		return r.untilRefresh(ctx, es) <= 0 || r.storeChanged(ctx, es) || r.templateSourcesChanged(ctx, es) || r.lostAdmission(ctx, es)
	case vfv1alpha1.RefreshOnChange:
		return r.templateSourcesChanged(ctx, es) || r.lostAdmission(ctx, es)
	default: // CreatedOnce
		return r.lostAdmission(ctx, es)
	}
}

// acknowledgeSpec records that a CreatedOnce ExternalSecret's spec change
// was seen, and deliberately not fetched for: it keeps its version.
func acknowledgeSpec(es *vfv1alpha1.ExternalSecret) {
	if es.Refresh() != vfv1alpha1.RefreshCreatedOnce || es.Generation == es.Status.ObservedGeneration {
		return
	}
	if ready := apimeta.FindStatusCondition(es.Status.Conditions, vfv1alpha1.ReadyCondition); ready != nil && ready.Status == metav1.ConditionTrue {
		es.Status.ObservedGeneration = es.Generation
		markReady(es)
	}
}

// templateSourcesChanged reports whether a templateFrom ConfigMap or Secret
// changed (or appeared, or went away) since the last sync rendered it.
func (r *Reconciler) templateSourcesChanged(ctx context.Context, es *vfv1alpha1.ExternalSecret) bool {
	if r.TemplateSources == nil {
		return false
	}
	refs := sourceRefs(es)
	if len(refs) != len(es.Status.TemplateSources) {
		return true
	}
	for key := range refs {
		kind, name, _ := strings.Cut(key, "/")
		version, err := r.templateSourceVersion(ctx, kind, client.ObjectKey{Namespace: es.Namespace, Name: name})
		if err != nil {
			return apierrors.IsNotFound(err) // gone: render again, to report it
		}
		if version != es.Status.TemplateSources[key] {
			return true
		}
	}
	return false
}

// templateSourceVersion is the resourceVersion of a template source, from
// the template source cache or, for one of the operator's own Secrets
// (which that cache leaves out), from the main cache.
func (r *Reconciler) templateSourceVersion(ctx context.Context, kind string, key client.ObjectKey) (string, error) {
	meta := templateSourceObject(kind)
	err := r.TemplateSources.Get(ctx, key, meta)
	if apierrors.IsNotFound(err) && kind == "Secret" {
		own := &corev1.Secret{}
		if err := r.Get(ctx, key, own); err != nil {
			return "", err
		}
		return own.ResourceVersion, nil
	}
	return meta.ResourceVersion, err
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
// deadline (seeded by the object and its last refresh, in whole seconds).
func (r *Reconciler) untilRefresh(ctx context.Context, es *vfv1alpha1.ExternalSecret) time.Duration {
	every := r.refreshEvery(ctx, es)
	if every == 0 || es.Status.RefreshTime == nil {
		return time.Duration(1<<63 - 1)
	}
	last := r.lastRefresh(es, every)
	return last.Add(jittered(es, last, every)).Sub(r.now())
}

// jittered is every ±10%, fixed for one ExternalSecret and last refresh.
func jittered(es *vfv1alpha1.ExternalSecret, last time.Time, every time.Duration) time.Duration {
	return requeue.JitterFor(every, fmt.Sprintf("%s/%d", es.UID, last.Unix()))
}

// lastRefresh is when es's data was last read: by this process, or as
// status records it. status.refreshTime lags behind refreshes that changed
// nothing, so an ExternalSecret this process has not read yet and whose
// recorded refresh is past its (jittered) interval is due at a point of the
// next interval drawn from its UID, not now: after a restart, refreshes
// resume spread over the interval instead of all at once.
func (r *Reconciler) lastRefresh(es *vfv1alpha1.ExternalSecret, every time.Duration) time.Time {
	recorded := es.Status.RefreshTime.Time
	if v, ok := r.refreshed.Load(pendingKey(es)); ok && v.(refreshRecord).uid == es.UID {
		if t := v.(refreshRecord).at; t.After(recorded) {
			return t
		}
		return recorded
	}
	now := r.now()
	if now.Before(recorded.Add(jittered(es, recorded, every))) {
		return recorded
	}
	spread := now.Add(-every).Add(spreadOffset(es.UID, every))
	r.noteRefresh(es, spread)
	return spread
}

// refreshRecord is when this process last read an ExternalSecret's data.
type refreshRecord struct {
	uid types.UID
	at  time.Time
}

func (r *Reconciler) noteRefresh(es *vfv1alpha1.ExternalSecret, at time.Time) {
	r.refreshed.Store(pendingKey(es), refreshRecord{uid: es.UID, at: at})
}

// spreadOffset is a fixed point in [0, every) for uid.
func spreadOffset(uid types.UID, every time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	return time.Duration(h.Sum64() % uint64(every))
}

// refreshEvery is es's refresh interval raised to the operator's minimum
// (--min-refresh-interval) and its store's minRefreshInterval, so that no
// tenant refreshes a shared store faster; 0 (fetch once) stays 0.
func (r *Reconciler) refreshEvery(ctx context.Context, es *vfv1alpha1.ExternalSecret) time.Duration {
	store, err := r.getStore(ctx, es)
	if err != nil {
		store = nil
	}
	return r.refreshWith(es, store)
}

// refreshWith is refreshEvery for a store already read (nil: none). No I/O.
func (r *Reconciler) refreshWith(es *vfv1alpha1.ExternalSecret, store vfv1alpha1.GenericStore) time.Duration {
	every := es.RefreshEvery()
	if every == 0 {
		return 0
	}
	every = max(every, r.MinRefreshInterval)
	if store != nil && store.GetSpec().MinRefreshInterval != nil {
		every = max(every, store.GetSpec().MinRefreshInterval.Duration)
	}
	return every
}

// ownedVersions lists the Secrets this ExternalSecret controls, from the cache.
func (r *Reconciler) ownedVersions(ctx context.Context, es *vfv1alpha1.ExternalSecret) ([]corev1.Secret, error) {
	list := &corev1.SecretList{}
	if err := r.List(ctx, list, client.InNamespace(es.Namespace), client.MatchingFields{versionOfIndex: es.Name}); err != nil {
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

// noteShadowedSecret records in status, until es has its first version,
// whether a Secret the operator did not write has es's target name: the
// admission policy then lets Pods keep using it meanwhile. One uncached read
// per attempt, only before the first sync and only where the policies are.
func (r *Reconciler) noteShadowedSecret(ctx context.Context, es *vfv1alpha1.ExternalSecret) error {
	if !r.StableReferences || es.Status.CurrentSecretName != "" || !es.IsImmutable() {
		return nil
	}
	existing := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: es.Namespace, Name: es.TargetBaseName()}, existing)
	switch {
	case apierrors.IsNotFound(err):
		es.Status.ShadowedSecret = ""
	case err != nil:
		return fmt.Errorf("reading Secret %s: %w", es.TargetBaseName(), err)
	case existing.Labels[vfv1alpha1.ManagedLabel] != "true":
		es.Status.ShadowedSecret = existing.Name
	}
	return nil
}

// markSynced records a successful sync in status.
func (r *Reconciler) markSynced(es *vfv1alpha1.ExternalSecret, current *corev1.Secret) {
	now := metav1.NewTime(r.now())
	es.Status.CurrentSecretName = current.Name
	es.Status.Revision = revisionOf(current)
	if es.Status.ShadowedSecret != "" {
		r.Events.Eventf(es, nil, corev1.EventTypeWarning, vfv1alpha1.ShadowedSecretReason, "Sync",
			"Secret %s was not written by vaultferry: new Pods naming %s now get %s instead (where the stable-reference policies are installed); it is left as it is, delete it once nothing uses it",
			es.Status.ShadowedSecret, es.Status.ShadowedSecret, current.Name)
		es.Status.ShadowedSecret = ""
	}
	es.Status.RefreshTime = &now
	r.noteRefresh(es, now.Time)
	recordForceSync(es)
	es.Status.ObservedGeneration = es.Generation
	markReady(es)
}

// markReady sets Ready=True on the current version and clears the
// conditions of a failure. No I/O.
func markReady(es *vfv1alpha1.ExternalSecret) {
	apimeta.SetStatusCondition(&es.Status.Conditions, metav1.Condition{
		Type:               vfv1alpha1.ReadyCondition,
		Status:             metav1.ConditionTrue,
		Reason:             vfv1alpha1.SyncedReason,
		Message:            fmt.Sprintf("Synced to %s (revision %d)", es.Status.CurrentSecretName, es.Status.Revision),
		ObservedGeneration: es.Generation,
	})
	apimeta.RemoveStatusCondition(&es.Status.Conditions, vfv1alpha1.ReconcilingCondition)
	apimeta.RemoveStatusCondition(&es.Status.Conditions, vfv1alpha1.StalledCondition)
}

// finalizeStatus owns the status write of every reconcile: on failure it
// sets the conditions from the classified error, emits an event when the
// outcome changed, logs tenant mistakes at info level and picks the requeue;
// it patches status once, and counts syncs in the metrics.
func (r *Reconciler) finalizeStatus(ctx context.Context, before, es *vfv1alpha1.ExternalSecret, run *syncRun, result ctrl.Result, err error) (ctrl.Result, error) {
	wasReady := apimeta.FindStatusCondition(before.Status.Conditions, vfv1alpha1.ReadyCondition)
	reason := vfv1alpha1.SyncedReason
	if err != nil {
		failure := requeue.As(err, vfv1alpha1.KubernetesAPIErrorReason)
		if failure.Kind == requeue.Defer { // not attempted: nothing to report
			log.FromContext(ctx).V(1).Info("Sync deferred", "reason", failure.Reason, "message", failure.Error())
			result, _ = failurePolicy(failure, 0, 0)
			return result, r.patchStatus(ctx, before, es)
		}
		reason = failure.Reason
		markFailed(es, failure)
		if wasReady == nil || wasReady.Reason != failure.Reason || wasReady.Message != failure.Error() {
			r.Events.Eventf(es, nil, corev1.EventTypeWarning, failure.Reason, "Sync", "%s", failure.Error())
		}
		if failure.Kind != requeue.Retry {
			// A tenant's mistake or a wait for something else: not an operator fault.
			log.FromContext(ctx).Info("Not synced", "reason", failure.Reason, "message", failure.Error())
		}
		if failure.Reason != vfv1alpha1.KubernetesAPIErrorReason {
			r.pending.Delete(pendingKey(es))
		}
		result, err = failurePolicy(failure, r.refreshEvery(ctx, es), orDefault(r.StoreWait, DefaultStoreWait))
	} else {
		r.pending.Delete(pendingKey(es))
		if wasReady != nil && wasReady.Status != metav1.ConditionTrue {
			markReady(es)
			r.Events.Eventf(es, nil, corev1.EventTypeNormal, vfv1alpha1.SyncedReason, "Sync", "Recovered: synced to %s", es.Status.CurrentSecretName)
		}
	}
	observed := *es // with the time of this read, which status may not record
	keepRecordedRefreshTime(before, es)
	if patchErr := r.patchStatus(ctx, before, es); patchErr != nil {
		err = errors.Join(err, patchErr)
	}
	if r.Metrics != nil && (run.synced || reason == vfv1alpha1.KubernetesAPIErrorReason) {
		r.Metrics.ObserveSync(&observed, reason, r.now().Sub(run.start), run.expiresAt)
	}
	return result, err
}

// keepRecordedRefreshTime leaves status.refreshTime as it was when nothing
// else in status changed: a refresh that finds the same content writes
// nothing to the API server. The time of every read is kept in memory (it
// schedules the next refresh) and in the
// vaultferry_externalsecret_last_sync_timestamp_seconds metric; status
// records the last read that changed something.
func keepRecordedRefreshTime(before, es *vfv1alpha1.ExternalSecret) {
	if before.Status.RefreshTime == nil || es.Status.RefreshTime == nil {
		return
	}
	unchanged := es.Status.DeepCopy()
	unchanged.RefreshTime = before.Status.RefreshTime
	if equality.Semantic.DeepEqual(before.Status, *unchanged) {
		es.Status.RefreshTime = before.Status.RefreshTime
	}
}

// markFailed sets Ready=False with the failure's reason; Stalled when only a
// spec change can help, Reconciling while retrying. No I/O.
func markFailed(es *vfv1alpha1.ExternalSecret, failure *requeue.Error) {
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
	recordForceSync(es)
}

// recordForceSync notes the force-sync value acted on. A removed
// annotation keeps the last value, so setting it back is not a new request.
func recordForceSync(es *vfv1alpha1.ExternalSecret) {
	if value := es.Annotations[vfv1alpha1.ForceSyncAnnotation]; value != "" {
		es.Status.SyncedForceSync = value
	}
}

// failurePolicy is the requeue policy of controllers/internal/requeue for
// a failed reconcile of an ExternalSecret refreshed every refresh. No I/O.
// Only Retry returns an error (logged, backed off by the queue); a Stall
// waits for a spec change, which triggers a reconcile by itself.
func failurePolicy(failure *requeue.Error, refresh, storeWait time.Duration) (ctrl.Result, error) {
	switch failure.Kind {
	case requeue.Defer: // never earlier than the delay the cause gave
		return requeue.Background(failure.After + requeue.Jitter(failure.After/5)), nil
	case requeue.Wait:
		return requeue.Background(requeue.Jitter(cmp.Or(failure.After, storeWait))), nil
	case requeue.Later:
		after := min(refresh, notFoundRecheckCap)
		if after == 0 {
			after = notFoundRecheckCap
		}
		return requeue.Background(requeue.Jitter(after)), nil
	case requeue.Stall:
		return ctrl.Result{}, nil
	default:
		return ctrl.Result{}, failure
	}
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
