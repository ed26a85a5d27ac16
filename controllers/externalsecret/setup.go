package externalsecret

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
)

// storeRefIndex indexes ExternalSecrets by "<kind>/<name>" of their store.
const storeRefIndex = ".spec.secretStoreRef"

// SetupWithManager registers the controller: ExternalSecrets on spec or
// annotation change, their versions on update or delete (someone deleted the
// current version: recreate it), and stores whose readiness changed (wake
// their dependants).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &vfv1alpha1.ExternalSecret{}, storeRefIndex,
		func(o client.Object) []string {
			es := o.(*vfv1alpha1.ExternalSecret)
			return []string{es.StoreKind() + "/" + es.Spec.SecretStoreRef.Name}
		}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Secret{}, versionOfIndex, func(o client.Object) []string {
		if o.GetLabels()[vfv1alpha1.ManagedLabel] != "true" || o.GetLabels()[vfv1alpha1.ExternalSecretLabel] == "" {
			return nil
		}
		return []string{o.GetLabels()[vfv1alpha1.ExternalSecretLabel]}
	}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &vfv1alpha1.ExternalSecret{}, templateSourceIndex,
		func(o client.Object) []string {
			return slices.Collect(maps.Keys(sourceRefs(o.(*vfv1alpha1.ExternalSecret))))
		}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &vfv1alpha1.ExternalSecret{}, targetNameIndex,
		func(o client.Object) []string { return []string{o.(*vfv1alpha1.ExternalSecret).TargetBaseName()} }); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&vfv1alpha1.ExternalSecret{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}, builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(event.CreateEvent) bool { return false }, // we made it
		})).
		// The old object of an update names the target it released.
		Watches(&vfv1alpha1.ExternalSecret{}, handler.Funcs{
			UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				if claimReleased(e.ObjectOld.(*vfv1alpha1.ExternalSecret), e.ObjectNew.(*vfv1alpha1.ExternalSecret)) {
					enqueue(q, r.otherClaimants(ctx, e.ObjectOld))
				}
			},
			DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				enqueue(q, r.otherClaimants(ctx, e.Object))
			},
		}).
		Watches(&vfv1alpha1.SecretStore{}, handler.EnqueueRequestsFromMapFunc(r.dependants),
			builder.WithPredicates(storeReadinessChanged()))
	if !r.DisableClusterStores {
		b = b.Watches(&vfv1alpha1.ClusterSecretStore{}, handler.EnqueueRequestsFromMapFunc(r.dependants),
			builder.WithPredicates(storeReadinessChanged())).
			Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.clusterStoreUsersIn),
				builder.WithPredicates(predicate.LabelChangedPredicate{}))
	}
	if r.TemplateSources != nil {
		// The template source cache leaves out the operator's own Secrets;
		// one of them used as a template source is seen in the main cache.
		// The other sources are watched from the first ExternalSecret with
		// templateFrom on (watchTemplateSources).
		b = b.Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.templateUsers(ctx, "Secret", o)
		}))
	}
	c, err := b.WithOptions(controller.Options{
		MaxConcurrentReconciles: concurrency,
		RateLimiter:             requeue.Backoff(),
	}).
		Build(r)
	r.controller = c
	return err
}

func enqueue(q workqueue.TypedRateLimitingInterface[reconcile.Request], reqs []reconcile.Request) {
	for _, req := range reqs {
		q.Add(req)
	}
}

// watchTemplateSources starts watching the metadata of ConfigMaps and
// Secrets when es is the first ExternalSecret with templateFrom this process
// sees. Until then no template source is cached: a cluster's Secrets and
// ConfigMaps (Helm keeps its releases in Secrets) cost the operator memory
// only where templates read them.
func (r *Reconciler) watchTemplateSources(es *vfv1alpha1.ExternalSecret) error {
	if r.TemplateSources == nil || len(sourceRefs(es)) == 0 {
		return nil
	}
	r.templateWatch.Lock()
	defer r.templateWatch.Unlock()
	if r.templateWatch.started {
		return nil
	}
	for _, kind := range []string{"ConfigMap", "Secret"} {
		if err := r.controller.Watch(source.Kind(r.TemplateSources, templateSourceObject(kind),
			handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, o *metav1.PartialObjectMetadata) []reconcile.Request {
				return r.templateUsers(ctx, kind, o)
			}))); err != nil {
			return fmt.Errorf("watching template sources: %w", err)
		}
	}
	r.templateWatch.started = true
	return nil
}

// versionOfIndex indexes the operator's Secrets by the ExternalSecret they
// are a version of (its label), so that listing one ExternalSecret's
// versions costs its versions, not every Secret of the namespace.
const versionOfIndex = "vaultferry.io/version-of"

// templateSourceIndex indexes ExternalSecrets by "<Kind>/<name>" of their templateFrom objects.
const templateSourceIndex = ".spec.target.template.templateFrom"

// templateUsers lists the ExternalSecrets whose templates come from o.
func (r *Reconciler) templateUsers(ctx context.Context, kind string, o client.Object) []reconcile.Request {
	return r.requestsFor(ctx, nil, client.InNamespace(o.GetNamespace()), client.MatchingFields{templateSourceIndex: sourceKey(kind, o.GetName())})
}

// requestsFor lists the cached ExternalSecrets matching opts (those keep
// accepts, when given) as requests. Only names are read, so the list shares
// the cache's objects instead of copying each: an event of a store with
// thousands of ExternalSecrets would otherwise copy them all.
func (r *Reconciler) requestsFor(ctx context.Context, keep func(*vfv1alpha1.ExternalSecret) bool, opts ...client.ListOption) []reconcile.Request {
	list := &vfv1alpha1.ExternalSecretList{}
	if err := r.List(ctx, list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the ExternalSecrets to reconcile")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		if keep == nil || keep(&list.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// templateSourceObject is an empty metadata-only object of a template source kind.
func templateSourceObject(kind string) *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{}
	o.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	return o
}

// NewTemplateSourceCache builds the cache of template sources: the metadata
// of every ConfigMap and Secret (in namespaces, the operator cache's
// DefaultNamespaces: all when empty), stripped to
// name, namespace and resourceVersion, so that memory stays small while a
// change of any templateFrom object is seen. The operator's main cache
// holds only its own Secrets, so they are left out here: each version would
// otherwise be held twice and sent to the operator twice.
func NewTemplateSourceCache(cfg *rest.Config, scheme *runtime.Scheme, mapper apimeta.RESTMapper, namespaces map[string]cache.Config) (cache.Cache, error) {
	notManaged, err := labels.Parse(vfv1alpha1.ManagedLabel + "!=true")
	if err != nil {
		return nil, err
	}
	return cache.New(cfg, cache.Options{Scheme: scheme, Mapper: mapper, DefaultNamespaces: namespaces,
		ByObject:         map[client.Object]cache.ByObject{templateSourceObject("Secret"): {Label: notManaged}},
		DefaultTransform: identityOnly})
}

// identityOnly strips cached metadata to what says which object and which
// version of it: name, namespace, UID and resourceVersion.
func identityOnly(in any) (any, error) {
	if m, ok := in.(*metav1.PartialObjectMetadata); ok {
		return &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion, UID: m.UID}}, nil
	}
	return in, nil
}

// dependants lists the ExternalSecrets using a store.
func (r *Reconciler) dependants(ctx context.Context, o client.Object) []reconcile.Request {
	store := o.(vfv1alpha1.GenericStore)
	opts := []client.ListOption{client.MatchingFields{storeRefIndex: store.GetKind() + "/" + store.GetName()}}
	if store.GetKind() == vfv1alpha1.SecretStoreKind {
		opts = append(opts, client.InNamespace(store.GetNamespace()))
	}
	return r.requestsFor(ctx, nil, opts...)
}

// clusterStoreUsersIn lists a namespace's ExternalSecrets that use a
// ClusterSecretStore: a label change can admit or expel them.
func (r *Reconciler) clusterStoreUsersIn(ctx context.Context, o client.Object) []reconcile.Request {
	return r.requestsFor(ctx, func(es *vfv1alpha1.ExternalSecret) bool { return es.StoreKind() == vfv1alpha1.ClusterSecretStoreKind },
		client.InNamespace(o.GetName()))
}

// storeReadinessChanged passes store events that can change whether its
// ExternalSecrets sync: creation, deletion, spec changes, and changes of the
// Ready condition (its status, or the generation it was validated at).
func storeReadinessChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			before, after := e.ObjectOld.(vfv1alpha1.GenericStore), e.ObjectNew.(vfv1alpha1.GenericStore)
			if before.GetGeneration() != after.GetGeneration() {
				return true
			}
			return readiness(before) != readiness(after)
		},
	}
}

func readiness(store vfv1alpha1.GenericStore) string {
	c := apimeta.FindStatusCondition(store.GetStatus().Conditions, vfv1alpha1.ReadyCondition)
	if c == nil {
		return ""
	}
	return fmt.Sprintf("%s/%d", c.Status, c.ObservedGeneration)
}
