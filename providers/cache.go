package providers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
)

// DefaultFreshnessWindow is how long, by default, a value read through a
// store's client is reused for another ExternalSecret asking for the same
// key, so that many ExternalSecrets created or refreshed together cost one
// read per key (see ClientCache.SetFreshnessWindow).
const DefaultFreshnessWindow = 5 * time.Second

// credentialRecheck is how often a cached client re-reads the resourceVersion
// of the credential objects it was built from, to notice rotated credentials.
const credentialRecheck = 30 * time.Second

// Observer is told about every provider call made through cached clients, for metrics.
// store is "<namespace>/<name>" of a SecretStore or the name of a ClusterSecretStore.
type Observer interface {
	ObserveRequest(storeKind, store, provider, operation string, class Class, took time.Duration)
}

// ClientCache builds one authenticated client per store (one login, not one
// per sync) and reuses it for every ExternalSecret using the store until the
// store's spec or one of its credential objects changes. Reads through a
// cached client are rate-limited per store and identical concurrent reads are
// coalesced into one provider call.
type ClientCache struct {
	registry *Registry
	kube     Kube
	observer Observer
	now      func() time.Time
	recheck  time.Duration
	// global, when set, limits calls through every store together.
	global *rate.Limiter
	// window is the freshness window of reads (see SetFreshnessWindow).
	window time.Duration
	// clusterCredentials, when set, is the only namespace a
	// ClusterSecretStore may read credential objects from.
	clusterCredentials string
	// operatorIdentity lets ClusterSecretStores authenticate as the operator.
	operatorIdentity bool
	// endpoints limits the endpoints of namespaced SecretStores.
	endpoints EndpointPolicy

	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
	logins  singleflight.Group
	// limiters are the stores' rate limits, shared by all clients of a store.
	limiters map[types.UID]*storeLimiter
}

// NewClientCache returns an empty cache. kube must read credentials directly
// from the API server (not through a label-filtered informer).
func NewClientCache(registry *Registry, kube Kube, observer Observer) *ClientCache {
	return &ClientCache{registry: registry, kube: kube, observer: observer, now: time.Now, recheck: credentialRecheck,
		window: DefaultFreshnessWindow, entries: map[cacheKey]*cacheEntry{}, limiters: map[types.UID]*storeLimiter{}}
}

// SetFreshnessWindow sets how long a successful read serves other reads of
// the same key through the same store (--read-coalescing-window). A longer
// window saves more reads when thousands of ExternalSecrets share keys, at
// the price of a value that may be that old when first synced; each read
// still asks for no more than its own Ref.MaxAge. 0 shares only reads in
// flight.
func (c *ClientCache) SetFreshnessWindow(d time.Duration) {
	c.window = max(d, 0)
}

// SetGlobalRateLimit bounds the calls through all stores together (--global-qps).
func (c *ClientCache) SetGlobalRateLimit(qps float64, burst int) {
	if qps > 0 {
		c.global = rate.NewLimiter(rate.Limit(qps), max(burst, 1))
	}
}

// RestrictClusterStoreCredentials makes ClusterSecretStores read Secrets and
// ConfigMaps only in namespace (--cluster-store-credentials-namespace).
// ServiceAccount tokens of tenants are not affected.
func (c *ClientCache) RestrictClusterStoreCredentials(namespace string) {
	c.clusterCredentials = namespace
}

// AllowOperatorIdentity lets ClusterSecretStores authenticate with the
// operator's own identity (--allow-operator-identity-for-cluster-stores; see
// OperatorIdentity). Namespaced SecretStores never may.
func (c *ClientCache) AllowOperatorIdentity(allow bool) { c.operatorIdentity = allow }

// RestrictStoreEndpoints limits the endpoints namespaced SecretStores may
// connect to (--allowed-store-endpoints).
func (c *ClientCache) RestrictStoreEndpoints(p EndpointPolicy) { c.endpoints = p }

// SetCredentialRecheck sets how often a cached client's credential objects
// are re-read to notice rotation (default 30s; tests use 0).
func (c *ClientCache) SetCredentialRecheck(d time.Duration) { c.recheck = d }

type cacheKey struct {
	kind, namespace, name string
	// tenant is the namespace credentials resolve in when the client
	// depends on it (a ClusterSecretStore using tenant identities); else "".
	tenant string
}

// of reports whether k is a client of the named store (any tenant).
func (k cacheKey) of(kind, namespace, name string) bool {
	return k.kind == kind && k.namespace == namespace && k.name == name
}

type cacheEntry struct {
	uid        types.UID
	generation int64
	client     Client
	deps       []credentialDep
	checkedAt  time.Time
}

// Get returns the cached client for store, building it when missing or stale.
// namespace is where namespace-less references resolve (see Provider.NewClient).
func (c *ClientCache) Get(ctx context.Context, store vfv1alpha1.GenericStore, namespace string) (Client, error) {
	key := keyFor(store, namespace)
	if cl := c.fresh(ctx, key, store); cl != nil {
		return cl, nil
	}
	v, err, _ := c.logins.Do(fmt.Sprint(key), func() (any, error) {
		if cl := c.fresh(ctx, key, store); cl != nil {
			return cl, nil
		}
		return c.build(ctx, key, store, namespace)
	})
	if err != nil {
		return nil, err
	}
	return v.(Client), nil
}

// limiterFor returns the store's rate limiter, shared by all its clients;
// a new one when the store's rate limit changed.
func (c *ClientCache) limiterFor(store vfv1alpha1.GenericStore) *storeLimiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.limiters[store.GetUID()]
	if l == nil || !l.sameSpec(store.GetSpec().RateLimit) {
		l = newStoreLimiter(store.GetSpec().RateLimit, c.now)
		c.limiters[store.GetUID()] = l
	}
	return l
}

// ProviderFor returns the provider a store's spec selects.
func (c *ClientCache) ProviderFor(store vfv1alpha1.GenericStore) (Provider, error) {
	return c.registry.For(store)
}

// RecheckCredentials makes the next Get of the named store's clients re-read
// the resourceVersions of the credential objects they were built from, and
// rebuild a client whose credentials changed; the store reconciler calls it
// before each validation, so a validation never trusts an old login.
func (c *ClientCache) RecheckCredentials(kind, namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if k.of(kind, namespace, name) {
			e.checkedAt = time.Time{}
		}
	}
}

// Forget closes and drops every client of the named store.
func (c *ClientCache) Forget(ctx context.Context, kind, namespace, name string) {
	c.mu.Lock()
	var stale []Client
	for k, e := range c.entries {
		if k.of(kind, namespace, name) {
			stale = append(stale, e.client)
			delete(c.limiters, e.uid)
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
	for _, cl := range stale {
		_ = cl.Close(ctx)
	}
}

func keyFor(store vfv1alpha1.GenericStore, namespace string) cacheKey {
	k := cacheKey{kind: store.GetKind(), namespace: store.GetNamespace(), name: store.GetName()}
	if store.GetKind() == vfv1alpha1.ClusterSecretStoreKind && UsesTenantIdentity(store.GetSpec().Provider) {
		k.tenant = namespace
	}
	return k
}

// fresh returns the cached client when it still matches the store and its
// credentials, or nil.
func (c *ClientCache) fresh(ctx context.Context, key cacheKey, store vfv1alpha1.GenericStore) Client {
	c.mu.Lock()
	e := c.entries[key]
	var checkedAt time.Time
	if e != nil {
		checkedAt = e.checkedAt // written under the lock by concurrent rechecks
	}
	c.mu.Unlock()
	if e == nil || e.uid != store.GetUID() || e.generation != store.GetGeneration() {
		return nil
	}
	if c.now().Sub(checkedAt) < c.recheck {
		return e.client
	}
	if !depsUnchanged(ctx, c.kube, e.deps) {
		return nil
	}
	c.mu.Lock()
	e.checkedAt = c.now()
	c.mu.Unlock()
	return e.client
}

func (c *ClientCache) build(ctx context.Context, key cacheKey, store vfv1alpha1.GenericStore, namespace string) (Client, error) {
	p, err := c.registry.For(store)
	if err != nil {
		return nil, err
	}
	if err := c.checkStoreIdentity(store); err != nil {
		return nil, err
	}
	kube := c.kube
	switch {
	case store.GetKind() != vfv1alpha1.ClusterSecretStoreKind:
		kube = &storeNamespaceKube{Kube: kube, namespace: store.GetNamespace()}
	case c.clusterCredentials != "":
		kube = &credentialsNamespaceKube{Kube: kube, namespace: c.clusterCredentials}
	}
	rec := &recordingKube{Kube: kube}
	raw, err := p.NewClient(ctx, store, rec, namespace)
	if err != nil {
		return nil, err
	}
	cl := newManagedClient(raw, p.Name(), store, c.limiterFor(store), c.observer, c.window)
	cl.global = c.global
	entry := &cacheEntry{uid: store.GetUID(), generation: store.GetGeneration(), client: cl, deps: rec.deps(), checkedAt: c.now()}
	c.mu.Lock()
	old := c.entries[key]
	c.entries[key] = entry
	c.mu.Unlock()
	if old != nil {
		_ = old.client.Close(ctx)
	}
	return cl, nil
}

// UsesTenantIdentity reports whether a provider block authenticates as a
// ServiceAccount named without namespace, which in a ClusterSecretStore means
// the ExternalSecret's own namespace: such stores need one client per tenant.
func UsesTenantIdentity(p vfv1alpha1.SecretStoreProvider) bool {
	switch {
	case p.Vault != nil && p.Vault.Auth.Kubernetes != nil:
		sa := p.Vault.Auth.Kubernetes.ServiceAccountRef
		return sa != nil && sa.Namespace == ""
	case p.AWS != nil && p.AWS.Auth != nil && p.AWS.Auth.JWT != nil:
		return p.AWS.Auth.JWT.ServiceAccountRef.Namespace == ""
	case p.AzureKV != nil && p.AzureKV.ServiceAccountRef != nil:
		return p.AzureKV.ServiceAccountRef.Namespace == ""
	default:
		return false
	}
}

// managedClient adds what every provider needs and none should implement:
// the per-store rate limit, coalescing of identical concurrent reads, and
// request metrics.
type managedClient struct {
	Client
	storeKind, store string
	provider         string
	limiter          *storeLimiter
	observer         Observer
	reads            singleflight.Group
	global           *rate.Limiter
	fresh            sync.Map // read key → freshRead
	window           time.Duration
}

func newManagedClient(c Client, provider string, store vfv1alpha1.GenericStore, limiter *storeLimiter, o Observer, window time.Duration) *managedClient {
	id := store.GetName()
	if store.GetNamespace() != "" {
		id = store.GetNamespace() + "/" + id
	}
	return &managedClient{Client: c, storeKind: store.GetKind(), store: id, provider: provider, limiter: limiter, observer: o, window: window}
}

// freshRead is a successful read kept for the freshness window.
type freshRead struct {
	secret Secret
	at     time.Time
}

// GetSecret answers from a read made within min(ref.MaxAge, freshness window),
// else joins an identical read in flight, else waits for the store's (and
// the global) rate limit and reads.
func (m *managedClient) GetSecret(ctx context.Context, ref Ref) (Secret, error) {
	key := ref.Key + "\x00" + ref.Version
	if v, ok := m.fresh.Load(key); ok {
		r := v.(freshRead)
		switch age := time.Since(r.at); {
		case age < min(ref.MaxAge, m.window):
			return r.secret, nil
		case age >= m.window:
			m.fresh.Delete(key)
		}
	}
	v, err, _ := m.reads.Do(key, func() (any, error) {
		if err := m.waitForCall(ctx, ref.Tenant); err != nil {
			return Secret{}, err
		}
		start := time.Now()
		s, err := m.Client.GetSecret(ctx, ref)
		m.observe("GetSecret", err, time.Since(start))
		if err == nil {
			m.fresh.Store(key, freshRead{secret: s, at: time.Now()})
		}
		return s, err
	})
	return v.(Secret), err
}

// FindSecrets runs a find with every backend call it makes waiting for the
// store's (and the global) rate limit, as single reads do.
func (m *managedClient) FindSecrets(ctx context.Context, req FindRequest) (map[string]Secret, error) {
	req.BeforeCall = func(ctx context.Context) error { return m.waitForCall(ctx, req.Tenant) }
	start := time.Now()
	found, err := m.Client.FindSecrets(ctx, req)
	m.observe("FindSecrets", err, time.Since(start))
	return found, err
}

// Issue asks the backend for new credentials.
func (m *managedClient) Issue(ctx context.Context, req IssueRequest) (lease Lease, err error) {
	err = m.leaseCall(ctx, "Issue", req.Tenant, func(l Leaser) (err error) {
		lease, err = l.Issue(ctx, req)
		return err
	})
	return lease, err
}

// Renew extends a lease.
func (m *managedClient) Renew(ctx context.Context, leaseID string, increment time.Duration) (lease Lease, err error) {
	err = m.leaseCall(ctx, "Renew", "", func(l Leaser) (err error) {
		lease, err = l.Renew(ctx, leaseID, increment)
		return err
	})
	return lease, err
}

// Revoke ends a lease.
func (m *managedClient) Revoke(ctx context.Context, leaseID string) error {
	return m.leaseCall(ctx, "Revoke", "", func(l Leaser) error { return l.Revoke(ctx, leaseID) })
}

// leaseCall runs one Leaser call of the backend through the store's rate
// limit, like reads, and records it; a backend without leases refuses it.
func (m *managedClient) leaseCall(ctx context.Context, op, tenant string, call func(Leaser) error) error {
	l, ok := m.Client.(Leaser)
	if !ok {
		return Errorf(ErrInvalid, "%s stores do not issue leased credentials", m.provider)
	}
	if err := m.waitForCall(ctx, tenant); err != nil {
		return err
	}
	start := time.Now()
	err := call(l)
	m.observe(op, err, time.Since(start))
	return err
}

// waitForCall waits for the tenant's share of the store's rate and for the
// global rate limit.
func (m *managedClient) waitForCall(ctx context.Context, tenant string) error {
	if err := m.waitForShare(ctx, tenant); err != nil {
		return err
	}
	if m.global != nil {
		if err := m.global.Wait(ctx); err != nil {
			return Errorf(ErrThrottled, "global client-side rate limit: %v", err)
		}
	}
	return nil
}

// waitForShare waits for a token of tenant's share of the store's rate, or
// returns a RateLimitedError when that would take longer than
// MaxRateLimitWait.
func (m *managedClient) waitForShare(ctx context.Context, tenant string) error {
	delay, release := m.limiter.reserve(tenant)
	if delay > MaxRateLimitWait {
		release()
		return &RateLimitedError{After: delay, Store: m.store}
	}
	if delay <= 0 {
		return nil
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		release()
		return Errorf(ErrThrottled, "client-side rate limit: %v", ctx.Err())
	}
}

func (m *managedClient) Check(ctx context.Context) error {
	start := time.Now()
	err := m.Client.Check(ctx)
	m.observe("Check", err, time.Since(start))
	return err
}

func (m *managedClient) observe(op string, err error, took time.Duration) {
	class := Class("Success")
	if err != nil {
		class = Classify(err)
	}
	m.limiter.observe(class)
	if m.observer == nil {
		return
	}
	m.observer.ObserveRequest(m.storeKind, m.store, m.provider, op, class, took)
}

// credentialDep is one object a client was built from.
type credentialDep struct {
	key             client.ObjectKey
	obj             func() client.Object
	resourceVersion string
}

// recordingKube remembers which objects a provider read while building a client.
type recordingKube struct {
	Kube
	mu   sync.Mutex
	seen []credentialDep
}

func (r *recordingKube) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := r.Kube.Get(ctx, key, obj, opts...)
	if err == nil {
		r.mu.Lock()
		proto := obj.DeepCopyObject().(client.Object)
		r.seen = append(r.seen, credentialDep{key: key, obj: func() client.Object { return proto.DeepCopyObject().(client.Object) }, resourceVersion: obj.GetResourceVersion()})
		r.mu.Unlock()
	}
	return err
}

func (r *recordingKube) deps() []credentialDep {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]credentialDep(nil), r.seen...)
}

func depsUnchanged(ctx context.Context, kube client.Reader, deps []credentialDep) bool {
	for _, d := range deps {
		obj := d.obj()
		if err := kube.Get(ctx, d.key, obj); err != nil || obj.GetResourceVersion() != d.resourceVersion {
			return false
		}
	}
	return true
}

// credentialsNamespaceKube refuses reads of credential objects outside one namespace.
type credentialsNamespaceKube struct {
	Kube
	namespace string
}

func (k *credentialsNamespaceKube) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	switch obj.(type) {
	case *corev1.Secret, *corev1.ConfigMap:
		if key.Namespace != k.namespace {
			return Errorf(ErrForbidden, "ClusterSecretStores may read credentials only from namespace %q (--cluster-store-credentials-namespace), not %q", k.namespace, key.Namespace)
		}
	}
	return k.Kube.Get(ctx, key, obj, opts...)
}

// storeNamespaceKube keeps a namespaced SecretStore inside its namespace:
// the schema already refuses namespaces in its references, and this holds
// for objects stored before that rule existed, too.
type storeNamespaceKube struct {
	Kube
	namespace string
}

func (k *storeNamespaceKube) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if key.Namespace != k.namespace {
		return Errorf(ErrInvalid, "a SecretStore may read only objects of its own namespace %q, not %s/%s", k.namespace, key.Namespace, key.Name)
	}
	return k.Kube.Get(ctx, key, obj, opts...)
}

func (k *storeNamespaceKube) ServiceAccountToken(ctx context.Context, namespace, name string, audiences []string, expiry time.Duration) (string, error) {
	if namespace != k.namespace {
		return "", Errorf(ErrInvalid, "a SecretStore may use only ServiceAccounts of its own namespace %q, not %s/%s", k.namespace, namespace, name)
	}
	return k.Kube.ServiceAccountToken(ctx, namespace, name, audiences, expiry)
}
