// Package secretstore reconciles SecretStores and ClusterSecretStores: it
// validates the provider block, logs in once through the shared client cache
// and reports the result as the Ready condition.
package secretstore

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/controllers/internal/scope"
	"github.com/vaultferry/vaultferry/providers"
)

// DefaultRecheck is how often a store is re-validated without spec.refreshInterval.
const DefaultRecheck = 5 * time.Minute

// Recorder receives store readiness, for metrics. Nil means none.
type Recorder interface {
	ObserveStore(kind, namespace, name string, ready bool)
	ForgetStore(kind, namespace, name string)
}

// Reconciler validates stores of one kind: SecretStore or ClusterSecretStore.
type Reconciler struct {
	client.Client
	// Kind is vfv1alpha1.SecretStoreKind or vfv1alpha1.ClusterSecretStoreKind.
	Kind string
	// Registry picks the provider of a store.
	Registry *providers.Registry
	// Clients is the client cache shared with the ExternalSecret reconciler,
	// so a store's validation login is the one its ExternalSecrets reuse.
	Clients *providers.ClientCache
	// Events records Kubernetes events.
	Events events.EventRecorder
	// Metrics is told about store readiness; optional.
	Metrics Recorder
	// Scope, when set, limits namespaced stores to namespaces with matching labels.
	Scope labels.Selector

	credentials *credentialWatch // set up by SetupWithManager
}

// +kubebuilder:rbac:groups=vaultferry.io,resources=secretstores;clustersecretstores,verbs=get;list;watch
// +kubebuilder:rbac:groups=vaultferry.io,resources=secretstores/status;clustersecretstores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts/token,verbs=create
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

func (r *Reconciler) newStore() vfv1alpha1.GenericStore {
	if r.Kind == vfv1alpha1.ClusterSecretStoreKind {
		return &vfv1alpha1.ClusterSecretStore{}
	}
	return &vfv1alpha1.SecretStore{}
}

// Reconcile validates one store and records whether it is Ready.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	store := r.newStore()
	if err := r.Get(ctx, req.NamespacedName, store); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.trackCredentials(req.NamespacedName, nil)
			r.Clients.Forget(ctx, r.Kind, req.Namespace, req.Name)
			if r.Metrics != nil {
				r.Metrics.ForgetStore(r.Kind, req.Namespace, req.Name)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if store.GetNamespace() != "" {
		if inScope, err := scope.Includes(ctx, r.Client, r.Scope, store.GetNamespace()); err != nil || !inScope {
			return ctrl.Result{}, err
		}
	}
	before := store.DeepCopyObject().(vfv1alpha1.GenericStore)

	r.trackCredentials(req.NamespacedName, providers.CredentialObjects(store))
	verr := r.validate(ctx, store)
	r.record(store, before, verr)
	r.recordAccess(store, before)
	if err := r.patchStatus(ctx, before, store); err != nil {
		return ctrl.Result{}, err
	}
	if verr != nil {
		failure := requeue.As(verr, vfv1alpha1.ProviderErrorReason)
		if failure.Kind == requeue.Stall {
			// An admin's or tenant's mistake, not an operator fault: a spec
			// change or a force-sync tries again.
			log.FromContext(ctx).Info("Store not valid", "reason", failure.Reason, "message", failure.Error())
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, failure
	}
	return requeue.Background(requeue.Jitter(recheckEvery(store))), nil
}

// validate checks the provider block and logs in; the error is classified.
func (r *Reconciler) validate(ctx context.Context, store vfv1alpha1.GenericStore) error {
	p, err := r.Registry.For(store)
	if err != nil {
		return requeue.New(requeue.Stall, vfv1alpha1.InvalidProviderConfigReason, err)
	}
	if _, err := p.Validate(store); err != nil {
		return requeue.New(requeue.Stall, vfv1alpha1.InvalidProviderConfigReason, err)
	}
	if store.GetKind() == vfv1alpha1.ClusterSecretStoreKind && providers.UsesTenantIdentity(store.GetSpec().Provider) {
		return nil // each namespace logs in as its own ServiceAccount, at sync time
	}
	r.Clients.RecheckCredentials(store.GetKind(), store.GetNamespace(), store.GetName())
	cl, err := r.Clients.Get(ctx, store, store.GetNamespace())
	if err != nil {
		return classify(fmt.Errorf("logging in: %w", err))
	}
	if err := cl.Check(ctx); err != nil {
		return classify(fmt.Errorf("checking credentials: %w", err))
	}
	return nil
}

// record sets the Ready condition and emits an event when it changed.
func (r *Reconciler) record(store, before vfv1alpha1.GenericStore, err error) {
	cond := metav1.Condition{
		Type:               vfv1alpha1.ReadyCondition,
		Status:             metav1.ConditionTrue,
		Reason:             vfv1alpha1.ValidatedReason,
		Message:            fmt.Sprintf("Provider %s authenticated", providers.ProviderName(store.GetSpec().Provider)),
		ObservedGeneration: store.GetGeneration(),
	}
	if store.GetKind() == vfv1alpha1.ClusterSecretStoreKind && providers.UsesTenantIdentity(store.GetSpec().Provider) {
		cond.Message = "Provider block is valid; each namespace authenticates as its own ServiceAccount when it syncs"
	}
	eventType := corev1.EventTypeNormal
	status := store.GetStatus()
	apimeta.RemoveStatusCondition(&status.Conditions, vfv1alpha1.ReconcilingCondition)
	apimeta.RemoveStatusCondition(&status.Conditions, vfv1alpha1.StalledCondition)
	if err != nil {
		failure := requeue.As(err, vfv1alpha1.ProviderErrorReason)
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, failure.Reason, failure.Error()
		eventType = corev1.EventTypeWarning
		apimeta.SetStatusCondition(&status.Conditions, progressCondition(failure, store.GetGeneration()))
	}
	status.ObservedGeneration = store.GetGeneration()
	old := apimeta.FindStatusCondition(before.GetStatus().Conditions, vfv1alpha1.ReadyCondition)
	apimeta.SetStatusCondition(&status.Conditions, cond)
	if old == nil || old.Status != cond.Status || old.Reason != cond.Reason || old.Message != cond.Message {
		r.Events.Eventf(store, nil, eventType, cond.Reason, "Validate", "%s", cond.Message)
	}
	if r.Metrics != nil {
		r.Metrics.ObserveStore(store.GetKind(), store.GetNamespace(), store.GetName(), err == nil)
	}
}

// recordAccess shows in status how open a ClusterSecretStore is, and warns
// once per change when it does not declare it (a store made before
// spec.access: it keeps serving what its conditions admit).
func (r *Reconciler) recordAccess(store, before vfv1alpha1.GenericStore) {
	if store.GetKind() != vfv1alpha1.ClusterSecretStoreKind {
		return
	}
	spec := store.GetSpec()
	store.GetStatus().Access = spec.AccessSummary()
	if spec.Access != nil || before.GetStatus().Access == store.GetStatus().Access {
		return
	}
	open := spec.EffectiveAccess()
	r.Events.Eventf(store, nil, corev1.EventTypeWarning, vfv1alpha1.AccessUndeclaredReason, "Validate",
		"spec.access is not set: this store serves %s. Declare it (access: {namespaces: %s, keys: %s} keeps this), or restrict it with conditions and allowedKeys; any edit of the spec needs it",
		open, open.Namespaces, open.Keys)
}

// progressCondition says, for GitOps health checks (kstatus), whether a
// failed validation is retried (Reconciling: InProgress) or waits for a spec
// change (Stalled: Failed). No I/O.
func progressCondition(failure *requeue.Error, generation int64) metav1.Condition {
	if failure.Kind == requeue.Stall {
		return metav1.Condition{Type: vfv1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: failure.Reason, Message: failure.Error(), ObservedGeneration: generation}
	}
	return metav1.Condition{Type: vfv1alpha1.ReconcilingCondition, Status: metav1.ConditionTrue, Reason: vfv1alpha1.ProgressingWithRetryReason, Message: failure.Error(), ObservedGeneration: generation}
}

func (r *Reconciler) patchStatus(ctx context.Context, before, store vfv1alpha1.GenericStore) error {
	if equality.Semantic.DeepEqual(before.GetStatus(), store.GetStatus()) {
		return nil
	}
	if err := r.Status().Patch(ctx, store, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("updating status of %s %s: %w", store.GetKind(), store.GetName(), err)
	}
	return nil
}

// trackCredentials keeps the watches of the store's credential objects in
// step with its spec (none in tests that build a Reconciler by hand).
func (r *Reconciler) trackCredentials(store client.ObjectKey, objects []providers.CredentialObject) {
	if r.credentials != nil {
		r.credentials.track(store, objects)
	}
}

func recheckEvery(store vfv1alpha1.GenericStore) time.Duration {
	if ri := store.GetSpec().RefreshInterval; ri != nil && ri.Duration > 0 {
		return ri.Duration
	}
	return DefaultRecheck
}

func classify(err error) error {
	return requeue.ForProvider(err, vfv1alpha1.InvalidProviderConfigReason)
}

// SetupWithManager registers the controller for r.Kind, reconciling on spec
// and annotation changes only (its own status writes do not wake it): a new
// value of the vaultferry.io/force-sync annotation validates the store now.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	meta, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	r.credentials = newCredentialWatch(meta)
	if err := mgr.Add(r.credentials); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(r.Kind).
		For(r.newStore(), builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(source.Channel(r.credentials.events, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: concurrency,
			RateLimiter:             requeue.Backoff(),
		}).
		Complete(r)
}
