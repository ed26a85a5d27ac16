// Package clusterexternalsecret reconciles ClusterExternalSecrets: one
// ExternalSecret in each namespace the selectors match, created, updated and
// deleted as namespaces and the spec change. Each ExternalSecret is then
// synced by the ExternalSecret reconciler like any other, with its own
// namespace's tenancy rules.
package clusterexternalsecret

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
)

// DefaultRefreshTime is how often namespaces are listed again without spec.refreshTime.
const DefaultRefreshTime = time.Minute

// Recorder receives how many namespaces are in each state, for metrics.
type Recorder interface {
	ObserveClusterExternalSecret(name string, provisioned, notSynced, failed int)
	ForgetClusterExternalSecret(name string)
}

// Reconciler provisions the ExternalSecrets of ClusterExternalSecrets.
type Reconciler struct {
	client.Client
	// Events records Kubernetes events.
	Events events.EventRecorder
	// Metrics is told about namespace states; optional.
	Metrics Recorder

	// defaulted remembers, by ClusterExternalSecret name, its spec as the
	// API server stores it in an ExternalSecret (with the schema's defaults):
	// comparing against the spec as written would see a difference in
	// every default and update the ExternalSecrets forever.
	defaulted sync.Map // name → defaultedSpec
}

type defaultedSpec struct {
	uid        types.UID // a ClusterExternalSecret re-created under the name starts over
	generation int64
	spec       vfv1alpha1.ExternalSecretSpec
}

// +kubebuilder:rbac:groups=vaultferry.io,resources=clusterexternalsecrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=vaultferry.io,resources=clusterexternalsecrets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=vaultferry.io,resources=clusterexternalsecrets/finalizers,verbs=update
// +kubebuilder:rbac:groups=vaultferry.io,resources=externalsecrets,verbs=create;update;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Reconcile makes the ExternalSecrets of one ClusterExternalSecret match
// its spec and the namespaces' labels, and records what it provisioned.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ces := &vfv1alpha1.ClusterExternalSecret{}
	if err := r.Get(ctx, req.NamespacedName, ces); err != nil {
		if apierrors.IsNotFound(err) && r.Metrics != nil {
			r.Metrics.ForgetClusterExternalSecret(req.Name)
		}
		r.defaulted.Delete(req.Name)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ces.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector deletes the ExternalSecrets it owns
	}
	before := ces.DeepCopy()

	namespaces := &corev1.NamespaceList{}
	if err := r.List(ctx, namespaces); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing namespaces: %w", err)
	}
	selected, err := selectedNamespaces(ces.Spec.NamespaceSelectors, namespaces.Items)
	if err != nil {
		r.recordInvalid(ces, err)
		return ctrl.Result{}, r.patchStatus(ctx, before, ces)
	}
	owned, err := r.owned(ctx, ces)
	if err != nil {
		return ctrl.Result{}, err
	}

	status := vfv1alpha1.ClusterExternalSecretStatus{ExternalSecretName: externalSecretName(ces), ObservedGeneration: ces.Generation,
		Conditions: ces.Status.Conditions}
	created, removed := 0, 0
	spec, err := r.defaultedSpec(ctx, ces, selected)
	if err != nil {
		return ctrl.Result{}, err
	}
	for _, ns := range selected {
		made, failure, ready := r.provision(ctx, ces, ns, spec)
		switch {
		case failure != nil:
			status.FailedNamespaces = append(status.FailedNamespaces, *failure)
			continue
		case made:
			created++
		}
		status.ProvisionedNamespaces = append(status.ProvisionedNamespaces, ns)
		if !ready {
			status.NotSyncedNamespaces = append(status.NotSyncedNamespaces, ns)
		}
	}
	for i := range owned {
		es := &owned[i]
		if es.Name == status.ExternalSecretName && slices.Contains(selected, es.Namespace) {
			continue
		}
		if err := r.Delete(ctx, es); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("deleting ExternalSecret %s/%s no longer selected: %w", es.Namespace, es.Name, err)
		}
		removed++
	}

	ces.Status = status
	r.record(ces, before, created, removed)
	if err := r.patchStatus(ctx, before, ces); err != nil {
		return ctrl.Result{}, err
	}
	if len(status.FailedNamespaces) > 0 {
		return ctrl.Result{RequeueAfter: requeue.Jitter(min(refreshTime(ces), 30*time.Second))}, nil
	}
	return requeue.Background(requeue.Jitter(refreshTime(ces))), nil
}

// defaultedSpec returns the ExternalSecret spec of ces with the defaults the
// API server applies, from a dry-run create in the first selected
// namespace, once per generation.
func (r *Reconciler) defaultedSpec(ctx context.Context, ces *vfv1alpha1.ClusterExternalSecret, selected []string) (vfv1alpha1.ExternalSecretSpec, error) {
	if v, ok := r.defaulted.Load(ces.Name); ok && v.(defaultedSpec).uid == ces.UID && v.(defaultedSpec).generation == ces.Generation {
		return v.(defaultedSpec).spec, nil
	}
	if len(selected) == 0 {
		return ces.Spec.ExternalSecretSpec, nil // nothing to create or compare
	}
	probe := desiredExternalSecret(ces, selected[0])
	probe.Name, probe.GenerateName = "", "vaultferry-defaults-"
	if err := r.Create(ctx, probe, client.DryRunAll); err != nil {
		return vfv1alpha1.ExternalSecretSpec{}, fmt.Errorf("computing the defaulted ExternalSecret spec (dry run in %s): %w", selected[0], err)
	}
	r.defaulted.Store(ces.Name, defaultedSpec{uid: ces.UID, generation: ces.Generation, spec: probe.Spec})
	return probe.Spec, nil
}

// owned lists the ExternalSecrets ces created, in every namespace.
func (r *Reconciler) owned(ctx context.Context, ces *vfv1alpha1.ClusterExternalSecret) ([]vfv1alpha1.ExternalSecret, error) {
	list := &vfv1alpha1.ExternalSecretList{}
	if err := r.List(ctx, list, client.MatchingLabels{vfv1alpha1.ClusterExternalSecretLabel: ces.Name}); err != nil {
		return nil, fmt.Errorf("listing the ExternalSecrets of ClusterExternalSecret %s: %w", ces.Name, err)
	}
	return slices.DeleteFunc(list.Items, func(es vfv1alpha1.ExternalSecret) bool { return !metav1.IsControlledBy(&es, ces) }), nil
}

// provision creates or updates the ExternalSecret in namespace. It never
// takes over an ExternalSecret it did not create.
func (r *Reconciler) provision(ctx context.Context, ces *vfv1alpha1.ClusterExternalSecret, namespace string, spec vfv1alpha1.ExternalSecretSpec) (created bool, failure *vfv1alpha1.ClusterExternalSecretNamespaceFailure, ready bool) {
	desired := desiredExternalSecret(ces, namespace)
	desired.Spec = spec
	fail := func(reason string, format string, args ...any) (bool, *vfv1alpha1.ClusterExternalSecretNamespaceFailure, bool) {
		return false, &vfv1alpha1.ClusterExternalSecretNamespaceFailure{Namespace: namespace, Reason: reason, Message: fmt.Sprintf(format, args...)}, false
	}
	existing := &vfv1alpha1.ExternalSecret{}
	err := r.Get(ctx, client.ObjectKeyFromObject(desired), existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := controllerutil.SetControllerReference(ces, desired, r.Scheme()); err != nil {
			return fail(vfv1alpha1.KubernetesAPIErrorReason, "setting the owner: %v", err)
		}
		if err := r.Create(ctx, desired); err != nil {
			return fail(vfv1alpha1.KubernetesAPIErrorReason, "creating ExternalSecret %s: %v", desired.Name, err)
		}
		return true, nil, false
	case err != nil:
		return fail(vfv1alpha1.KubernetesAPIErrorReason, "reading ExternalSecret %s: %v", desired.Name, err)
	case !metav1.IsControlledBy(existing, ces):
		return fail(vfv1alpha1.NameConflictReason,
			"an ExternalSecret %q this ClusterExternalSecret did not create exists in the namespace: delete or rename it, or set a different externalSecretName", desired.Name)
	}
	if differs(existing, desired) {
		existing.Spec = desired.Spec
		existing.Labels = mergeInto(existing.Labels, desired.Labels)
		existing.Annotations = mergeInto(existing.Annotations, desired.Annotations)
		if err := r.Update(ctx, existing); err != nil {
			return fail(vfv1alpha1.KubernetesAPIErrorReason, "updating ExternalSecret %s: %v", desired.Name, err)
		}
		return false, nil, false // its new generation is not synced yet
	}
	cond := apimeta.FindStatusCondition(existing.Status.Conditions, vfv1alpha1.ReadyCondition)
	return false, nil, cond != nil && cond.Status == metav1.ConditionTrue && existing.Status.ObservedGeneration == existing.Generation
}

// mergeInto sets src's entries in dst, allocating dst when nil.
func mergeInto(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	maps.Copy(dst, src)
	return dst
}

// record sets the Ready condition, emits an event when namespaces were
// added or removed or the condition changed, and updates the metrics.
func (r *Reconciler) record(ces, before *vfv1alpha1.ClusterExternalSecret, created, removed int) {
	st := &ces.Status
	cond := metav1.Condition{Type: vfv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: vfv1alpha1.ProvisionedReason,
		ObservedGeneration: ces.Generation,
		Message:            fmt.Sprintf("ExternalSecret %q is in %d namespaces", st.ExternalSecretName, len(st.ProvisionedNamespaces))}
	if n := len(st.FailedNamespaces); n > 0 {
		names := make([]string, 0, n)
		for _, f := range st.FailedNamespaces {
			names = append(names, f.Namespace+" ("+f.Reason+")")
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, vfv1alpha1.PartiallyProvisionedReason
		cond.Message = fmt.Sprintf("ExternalSecret %q is in %d namespaces; %d failed: %s: see status.failedNamespaces",
			st.ExternalSecretName, len(st.ProvisionedNamespaces), n, strings.Join(names, ", "))
	}
	if len(st.NotSyncedNamespaces) > 0 {
		cond.Message += fmt.Sprintf("; not synced yet in %s: see the ExternalSecret there", strings.Join(st.NotSyncedNamespaces, ", "))
	}
	apimeta.RemoveStatusCondition(&st.Conditions, vfv1alpha1.StalledCondition)
	old := apimeta.FindStatusCondition(before.Status.Conditions, vfv1alpha1.ReadyCondition)
	apimeta.SetStatusCondition(&st.Conditions, cond)
	if created > 0 || removed > 0 {
		r.Events.Eventf(ces, nil, corev1.EventTypeNormal, vfv1alpha1.ProvisionedReason, "Provision",
			"created ExternalSecret %q in %d namespaces, deleted it from %d", st.ExternalSecretName, created, removed)
	}
	if cond.Status == metav1.ConditionFalse && (old == nil || old.Message != cond.Message) {
		r.Events.Eventf(ces, nil, corev1.EventTypeWarning, cond.Reason, "Provision", "%s", cond.Message)
	}
	if r.Metrics != nil {
		r.Metrics.ObserveClusterExternalSecret(ces.Name, len(st.ProvisionedNamespaces)-len(st.NotSyncedNamespaces), len(st.NotSyncedNamespaces), len(st.FailedNamespaces))
	}
}

// recordInvalid reports a selector the API server accepted but that does
// not parse: only a spec change can fix it.
func (r *Reconciler) recordInvalid(ces *vfv1alpha1.ClusterExternalSecret, err error) {
	msg := fmt.Sprintf("%v: fix spec.namespaceSelectors", err)
	ces.Status.ObservedGeneration = ces.Generation
	ready := metav1.Condition{Type: vfv1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: vfv1alpha1.InvalidSpecReason,
		Message: msg, ObservedGeneration: ces.Generation}
	stalled := ready
	stalled.Type, stalled.Status = vfv1alpha1.StalledCondition, metav1.ConditionTrue
	apimeta.SetStatusCondition(&ces.Status.Conditions, ready)
	apimeta.SetStatusCondition(&ces.Status.Conditions, stalled)
	r.Events.Eventf(ces, nil, corev1.EventTypeWarning, vfv1alpha1.InvalidSpecReason, "Provision", "%s", msg)
}

func (r *Reconciler) patchStatus(ctx context.Context, before, ces *vfv1alpha1.ClusterExternalSecret) error {
	if equality.Semantic.DeepEqual(before.Status, ces.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, ces, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("updating status of ClusterExternalSecret %s: %w", ces.Name, err)
	}
	return nil
}

func refreshTime(ces *vfv1alpha1.ClusterExternalSecret) time.Duration {
	if rt := ces.Spec.RefreshTime; rt != nil && rt.Duration > 0 {
		return rt.Duration
	}
	return DefaultRefreshTime
}

// SetupWithManager reconciles on spec changes, on any change of an
// ExternalSecret a ClusterExternalSecret owns (an edit is undone, a deletion
// recreated, a sync reported), and on namespace creation, deletion and
// label changes (every ClusterExternalSecret is checked again).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	allClusterExternalSecrets := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		list := &vfv1alpha1.ClusterExternalSecretList{}
		if err := r.List(ctx, list); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, ces := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ces)})
		}
		return reqs
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("clusterexternalsecret").
		For(&vfv1alpha1.ClusterExternalSecret{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&vfv1alpha1.ExternalSecret{}).
		Watches(&corev1.Namespace{}, allClusterExternalSecrets, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(controller.Options{RateLimiter: requeue.Backoff()}).
		Complete(r)
}
