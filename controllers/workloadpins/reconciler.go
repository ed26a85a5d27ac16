// Package workloadpins keeps the operator a co-owner of every version pin on
// the pod templates of Deployments, StatefulSets and DaemonSets, whoever
// wrote it: the operator's rollout, `kubectl rollout undo` (which copies an
// old ReplicaSet's template, pin included, under kubectl's field manager)
// or a person. Flux's apply takes over kubectl's fields and drops those
// its manifest lacks, so a pin only kubectl owned would vanish at the next
// interval, rolling the workload forward again; one the operator also
// applies stays where it was put.
package workloadpins

import (
	"context"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/vaultferry/vaultferry/controllers/internal/pins"
	"github.com/vaultferry/vaultferry/controllers/internal/scope"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets,verbs=get;list;watch;patch

// conflictRetry is how soon a workload that changed under an apply is
// looked at again.
const conflictRetry = 100 * time.Millisecond

// Kind is a workload kind whose pod template GitOps engines apply.
type Kind struct {
	// Name is the Kind, e.g. "Deployment".
	Name string
	// New returns an empty object of the kind.
	New func() client.Object
	// Template returns the object's pod template.
	Template func(client.Object) *corev1.PodTemplateSpec
}

// Kinds are the workload kinds whose pins the operator co-owns.
var Kinds = []Kind{
	{"Deployment", func() client.Object { return &appsv1.Deployment{} }, func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template }},
	{"StatefulSet", func() client.Object { return &appsv1.StatefulSet{} }, func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.StatefulSet).Spec.Template }},
	{"DaemonSet", func() client.Object { return &appsv1.DaemonSet{} }, func(o client.Object) *corev1.PodTemplateSpec { return &o.(*appsv1.DaemonSet).Spec.Template }},
}

// KindNames lists the names of Kinds ("Deployment", ...).
func KindNames() []string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = k.Name
	}
	return names
}

// KindNamed returns the Kind of that name.
func KindNamed(name string) (Kind, bool) {
	i := slices.IndexFunc(Kinds, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return Kinds[i], true
}

// Reconciler applies, under the operator's field manager, the pins of a
// workload that it does not own yet.
type Reconciler struct {
	// Client reads workloads from the manager's cache, stripped by
	// CacheTransform, and applies.
	client.Client
	// Kind is the workload kind reconciled.
	Kind Kind
	// Scope limits the namespaces served (all when nil).
	Scope labels.Selector
}

// Reconcile takes co-ownership of the workload's pins, with the values
// they have: it never changes a pin. The apply is conditional on the
// workload's resourceVersion, so a read older than a rollout never moves a
// pin back; a conflict retries with the newer object.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if inScope, err := scope.Includes(ctx, r.Client, r.Scope, req.Namespace); err != nil || !inScope {
		return ctrl.Result{}, err
	}
	obj := r.Kind.New()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	template := r.Kind.Template(obj)
	unowned, err := pins.Unowned(obj.GetManagedFields(), template)
	if err != nil || len(unowned) == 0 {
		return ctrl.Result{}, err
	}
	current := pins.On(template)
	if err := pins.Apply(ctx, r.Client, r.Kind.Name, obj, current, nil, true); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil // the cache brings the newer object
		}
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).Info("Co-owning version pins written by another field manager, so GitOps applies keep them", "pins", unowned)
	return ctrl.Result{}, nil
}

// SetupWithManager watches the kind, passing only workloads with a pin the
// operator does not own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("pins-"+r.Kind.Name).
		For(r.Kind.New(), builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			unowned, err := pins.Unowned(o.GetManagedFields(), r.Kind.Template(o))
			return err != nil || len(unowned) > 0
		}))).
		Complete(r)
}

// CacheTransform strips a cached workload of the kind to what Reconcile
// reads: its identity, its pins and the operator's own managedFields entry,
// so that watching every workload of the cluster costs a few hundred bytes
// each. Nothing else reads workloads from the cache (rollouts and the
// in-use check read the API server).
func (k Kind) CacheTransform(obj any) (any, error) {
	o, ok := obj.(client.Object)
	if !ok {
		return obj, nil // a tombstone
	}
	stripped := k.New()
	stripped.SetName(o.GetName())
	stripped.SetNamespace(o.GetNamespace())
	stripped.SetUID(o.GetUID())
	stripped.SetResourceVersion(o.GetResourceVersion())
	stripped.SetGeneration(o.GetGeneration())
	stripped.SetDeletionTimestamp(o.GetDeletionTimestamp())
	stripped.SetManagedFields(pins.OwnedOnly(o.GetManagedFields()))
	k.Template(stripped).Annotations = pins.On(k.Template(o))
	return stripped, nil
}
