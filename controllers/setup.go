// Package controllers wires the reconcilers of every kind into a manager; the
// reconcilers themselves live in one package per kind beside this file.
package controllers

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/clusterexternalsecret"
	"github.com/vaultferry/vaultferry/controllers/externalsecret"
	"github.com/vaultferry/vaultferry/controllers/metrics"
	"github.com/vaultferry/vaultferry/controllers/secretstore"
	"github.com/vaultferry/vaultferry/controllers/targetindex"
	"github.com/vaultferry/vaultferry/controllers/workloadpins"
	"github.com/vaultferry/vaultferry/providers"
)

// NoReadCoalescingWindow as Config.ReadCoalescingWindow shares only reads in flight.
const NoReadCoalescingWindow time.Duration = -1

// Config is what the reconcilers need beyond the manager.
type Config struct {
	// Namespace is the operator's own namespace, home of the hash key Secret.
	Namespace string
	// Registry holds the enabled providers.
	Registry *providers.Registry
	// SyncConcurrency and StoreConcurrency are the worker counts.
	SyncConcurrency, StoreConcurrency int
	// Metrics receives sync, store and provider request outcomes; optional.
	Metrics *metrics.Metrics
	// ClusterStoreCredentialsNamespace, when set, is the only namespace
	// ClusterSecretStores may read credential Secrets and ConfigMaps from.
	ClusterStoreCredentialsNamespace string
	// AllowOperatorIdentity lets ClusterSecretStores authenticate with the
	// operator's own identity (see providers.OperatorIdentity); namespaced
	// SecretStores never may.
	AllowOperatorIdentity bool
	// StoreEndpoints limits the endpoints namespaced SecretStores may use.
	StoreEndpoints providers.EndpointPolicy
	// DisableClusterStores turns ClusterSecretStores off: they are not
	// reconciled and ExternalSecrets using one are refused.
	DisableClusterStores bool
	// GlobalQPS and GlobalBurst bound provider calls through all stores together (0: no global limit).
	GlobalQPS   float64
	GlobalBurst int
	// ReadCoalescingWindow is how long a read serves other ExternalSecrets
	// of the same store asking for the same key (0: the provider default,
	// providers.DefaultFreshnessWindow; NoReadCoalescingWindow: only reads
	// in flight are shared).
	ReadCoalescingWindow time.Duration
	// WatchNamespaces limits the operator to these namespaces (all when empty).
	WatchNamespaces []string
	// WatchLabelSelector limits the operator to namespaces with these labels (all when nil).
	WatchLabelSelector labels.Selector
	// MinRefreshInterval is the shortest refresh interval of any
	// ExternalSecret (--min-refresh-interval); 0: none.
	MinRefreshInterval time.Duration
	// StoreWait and InUseRecheck override the ExternalSecret reconciler's
	// defaults (tests shorten them).
	StoreWait, InUseRecheck time.Duration
	// StableReferences is the --stable-references mode: StableReferencesAuto
	// (the default when empty), StableReferencesAdmission or StableReferencesRewrite.
	StableReferences string
	// RolloutBatchWindow overrides externalsecret.DefaultRolloutBatchWindow.
	RolloutBatchWindow time.Duration
}

// CacheOptions caches only the operator's own Secrets, so memory does not
// grow with unrelated Secrets in the cluster; credential Secrets and
// conflicting names are read from the API server directly. Cached Secrets
// keep no data (the operator works from their names and content-hash
// annotations, so memory does not grow with the size of values), cached
// workloads only their pins, and no object keeps managedFields other than
// the operator's own apply of those pins.
// With watchNamespaces, namespaced objects are watched only there (sharding
// tenants across operator deployments).
func CacheOptions(watchNamespaces ...string) cache.Options {
	opts := cache.Options{DefaultTransform: withoutBookkeeping, ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{vfv1alpha1.ManagedLabel: "true"}), Transform: withoutData},
	}}
	for _, kind := range workloadpins.Kinds {
		opts.ByObject[kind.New()] = cache.ByObject{Transform: kind.CacheTransform}
	}
	if len(watchNamespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range watchNamespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// withoutBookkeeping drops what the API server and kubectl keep for
// themselves: managedFields and kubectl's last-applied-configuration
// annotation (a second copy of the spec of every object applied with
// kubectl apply). The operator reads neither.
func withoutBookkeeping(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		o.SetManagedFields(nil)
		if _, applied := o.GetAnnotations()[corev1.LastAppliedConfigAnnotation]; applied {
			annotations := maps.Clone(o.GetAnnotations())
			delete(annotations, corev1.LastAppliedConfigAnnotation)
			o.SetAnnotations(annotations)
		}
	}
	return obj, nil
}

// withoutData strips a cached Secret to its metadata and type.
func withoutData(obj any) (any, error) {
	if s, ok := obj.(*corev1.Secret); ok {
		s.Data, s.StringData = nil, nil
	}
	return withoutBookkeeping(obj)
}

// Setup loads (or creates) the hash key and registers every reconciler with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, cfg Config) error {
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	hashKey, err := externalsecret.LoadOrCreateHashKey(ctx, direct, cfg.Namespace)
	if err != nil {
		return err
	}
	clientset, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	var (
		observer     providers.Observer
		syncMetrics  externalsecret.Recorder
		storeMetrics secretstore.Recorder
	)
	if cfg.Metrics != nil { // typed nil pointers in interfaces would not read as "none"
		observer, syncMetrics, storeMetrics = cfg.Metrics, cfg.Metrics, cfg.Metrics
	}
	clients := providers.NewClientCache(cfg.Registry, providers.NewKube(mgr.GetAPIReader(), clientset.CoreV1()), observer)
	clients.RestrictClusterStoreCredentials(cfg.ClusterStoreCredentialsNamespace)
	clients.AllowOperatorIdentity(cfg.AllowOperatorIdentity)
	clients.RestrictStoreEndpoints(cfg.StoreEndpoints)
	clients.SetGlobalRateLimit(cfg.GlobalQPS, cfg.GlobalBurst)
	if cfg.ReadCoalescingWindow != 0 {
		clients.SetFreshnessWindow(cfg.ReadCoalescingWindow)
	}
	events := mgr.GetEventRecorder("vaultferry")

	kinds := []string{vfv1alpha1.SecretStoreKind, vfv1alpha1.ClusterSecretStoreKind}
	if cfg.DisableClusterStores {
		kinds = kinds[:1]
	}
	for _, kind := range kinds {
		r := &secretstore.Reconciler{Client: mgr.GetClient(), Kind: kind, Registry: cfg.Registry, Clients: clients, Events: events, Metrics: storeMetrics,
			Scope: cfg.WatchLabelSelector}
		if err := r.SetupWithManager(mgr, max(cfg.StoreConcurrency, 1)); err != nil {
			return fmt.Errorf("setting up %s controller: %w", kind, err)
		}
	}
	pinning, err := stableReferences(ctx, mgr.GetConfig(), direct, cfg.StableReferences)
	if err != nil {
		return err
	}
	sources, err := externalsecret.NewTemplateSourceCache(mgr.GetConfig(), mgr.GetScheme(), mgr.GetRESTMapper(),
		CacheOptions(cfg.WatchNamespaces...).DefaultNamespaces)
	if err != nil {
		return fmt.Errorf("creating the template source cache: %w", err)
	}
	if err := mgr.Add(sources); err != nil {
		return err
	}
	es := &externalsecret.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clients: clients, HashKey: hashKey,
		Events: events, Metrics: syncMetrics, StoreWait: cfg.StoreWait, InUseRecheck: cfg.InUseRecheck,
		DisableClusterStores: cfg.DisableClusterStores, Scope: cfg.WatchLabelSelector, MinRefreshInterval: cfg.MinRefreshInterval,
		StableReferences: pinning, RolloutBatchWindow: cfg.RolloutBatchWindow, TemplateSources: sources,
	}
	if err := es.SetupWithManager(mgr, max(cfg.SyncConcurrency, 1)); err != nil {
		return fmt.Errorf("setting up ExternalSecret controller: %w", err)
	}
	protector := &externalsecret.VersionProtector{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Events: events,
		InUseRecheck: cfg.InUseRecheck, Scope: cfg.WatchLabelSelector}
	if err := protector.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the version protection controller: %w", err)
	}
	if err := setupClusterExternalSecrets(mgr, cfg, events); err != nil {
		return err
	}
	if pinning { // the policies' parameter: written only where they are installed
		index := &targetindex.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Events: events, Scope: cfg.WatchLabelSelector}
		if err := index.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up TargetIndex controller: %w", err)
		}
		for _, kind := range workloadpins.Kinds {
			owner := &workloadpins.Reconciler{Client: mgr.GetClient(), Kind: kind, Scope: cfg.WatchLabelSelector}
			if err := owner.SetupWithManager(mgr); err != nil {
				return fmt.Errorf("setting up the %s pin controller: %w", kind.Name, err)
			}
		}
	}
	return nil
}

// setupClusterExternalSecrets runs the ClusterExternalSecret controller in
// an operator that serves every namespace: a shard (--watch-namespaces,
// --watch-label-selector) sees only some of the namespaces, and shards
// would overwrite each other's status.
func setupClusterExternalSecrets(mgr ctrl.Manager, cfg Config, events events.EventRecorder) error {
	if len(cfg.WatchNamespaces) > 0 || (cfg.WatchLabelSelector != nil && !cfg.WatchLabelSelector.Empty()) {
		ctrl.Log.Info("ClusterExternalSecrets are not reconciled by a sharded operator: run them from a deployment that serves every namespace")
		return nil
	}
	r := &clusterexternalsecret.Reconciler{Client: mgr.GetClient(), Events: events}
	if cfg.Metrics != nil {
		r.Metrics = cfg.Metrics
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up ClusterExternalSecret controller: %w", err)
	}
	return nil
}
