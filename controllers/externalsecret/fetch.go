package externalsecret

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/types"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// pendingFetch is data fetched for an ExternalSecret whose sync then failed
// on the Kubernetes side (a quota, a conflict, an API-server outage).
type pendingFetch struct {
	uid             types.UID
	generation      int64
	forceSync       string
	storeGeneration int64
	at              time.Time
	data            fetched
	// lease is credentials a dynamic source issued: issuing again would
	// create other credentials, so a failed write retries with these.
	lease *providers.Lease
}

func pendingKey(es *vfv1alpha1.ExternalSecret) types.NamespacedName {
	return types.NamespacedName{Namespace: es.Namespace, Name: es.Name}
}

// fetchOrReuse fetches es's data, or reuses what the last attempt fetched
// when that attempt failed on the Kubernetes side and the data is still
// fresh for the same spec, force-sync request and store: retrying a write
// must not read the vault again. The data is held in memory only until the
// sync succeeds or fails for another reason.
func (r *Reconciler) fetchOrReuse(ctx context.Context, store *resolvedStore, es *vfv1alpha1.ExternalSecret, forced bool) (fetched, error) {
	key := pendingKey(es)
	if v, ok := r.pending.Load(key); ok {
		p := v.(pendingFetch)
		every := r.refreshWith(es, store.store)
		if p.uid == es.UID && p.generation == es.Generation && p.forceSync == es.Annotations[vfv1alpha1.ForceSyncAnnotation] &&
			p.storeGeneration == store.store.GetGeneration() && (every == 0 || r.now().Sub(p.at) < every) {
			return p.data, nil
		}
	}
	data, err := r.fetch(ctx, store, es, forced)
	if err != nil {
		return data, err
	}
	r.pending.Store(key, pendingFetch{uid: es.UID, generation: es.Generation, forceSync: es.Annotations[vfv1alpha1.ForceSyncAnnotation],
		storeGeneration: store.store.GetGeneration(), at: r.now(), data: data})
	return data, nil
}

// fetch reads everything es asks for through the store's client: dataFrom
// first, then data, so an explicit data entry wins over an extracted key.
func (r *Reconciler) fetch(ctx context.Context, store *resolvedStore, es *vfv1alpha1.ExternalSecret, forced bool) (fetched, error) {
	cl, err := r.storeClient(ctx, store, es)
	if err != nil {
		return fetched{}, err
	}

	// A forced sync reads fresh; others may share a read made moments ago
	// for another ExternalSecret (within the cache's freshness window), never
	// one older than their own refresh interval.
	maxAge := r.refreshWith(es, store.store)
	if maxAge == 0 {
		maxAge = time.Duration(math.MaxInt64) // fetch-once: the window alone bounds the age
	}
	if forced {
		maxAge = 0
	}
	out := fetched{Data: map[string][]byte{}, SourceVersions: map[string]string{}}
	read := func(remote vfv1alpha1.RemoteRef) (providers.Secret, error) {
		ref, err := store.checkRef(remote)
		if err != nil {
			return providers.Secret{}, err
		}
		ref.MaxAge = maxAge
		ref.Tenant = es.Namespace
		s, err := cl.GetSecret(ctx, ref)
		if err != nil {
			return s, classify(fmt.Errorf("reading remote key %q: %w", ref.Key, err))
		}
		out.record(ref.Key, s)
		return s, nil
	}

	for i, from := range es.Spec.DataFrom {
		values, origin, err := r.readDataFrom(ctx, cl, store, es, from, read, &out)
		if err != nil {
			return fetched{}, err
		}
		renamed, err := renameKeys(ctx, values, from.Rewrite, from.Find != nil, origin)
		if err != nil {
			return fetched{}, fmt.Errorf("dataFrom[%d]: %w", i, err)
		}
		maps.Copy(out.Data, renamed)
	}
	for _, d := range es.Spec.Data {
		s, err := read(d.RemoteRef)
		if err != nil {
			return fetched{}, err
		}
		value := s.Value
		if d.RemoteRef.Property != "" {
			if value, err = providers.Property(s.Value, d.RemoteRef.Property); err != nil {
				return fetched{}, classify(fmt.Errorf("property %q of remote key %q: %w", d.RemoteRef.Property, d.RemoteRef.Key, err))
			}
		}
		if value, err = decode(value, d.RemoteRef.DecodingStrategy); err != nil {
			return fetched{}, decodeError(d.RemoteRef.Key, d.SecretKey)
		}
		out.Data[d.SecretKey] = value
	}
	return out, nil
}

// storeClient is the store's client for es: for a ClusterSecretStore,
// namespace-less ServiceAccount references resolve in es's namespace (the
// tenant's identity).
func (r *Reconciler) storeClient(ctx context.Context, store *resolvedStore, es *vfv1alpha1.ExternalSecret) (providers.Client, error) {
	ns := store.store.GetNamespace()
	if store.store.GetKind() == vfv1alpha1.ClusterSecretStoreKind {
		ns = es.Namespace
	}
	cl, err := r.Clients.Get(ctx, store.store, ns)
	if err != nil {
		return nil, classify(fmt.Errorf("connecting to %s %q: %w", store.store.GetKind(), store.store.GetName(), err))
	}
	return cl, nil
}

// readDataFrom reads one dataFrom entry: the fields of one remote object,
// or the secrets a find returns. origin names where a key came from, for errors.
func (r *Reconciler) readDataFrom(ctx context.Context, cl providers.Client, store *resolvedStore, es *vfv1alpha1.ExternalSecret,
	from vfv1alpha1.ExternalSecretDataFrom, read func(vfv1alpha1.RemoteRef) (providers.Secret, error), out *fetched,
) (map[string][]byte, func(string) string, error) {
	if from.Extract != nil {
		s, err := read(*from.Extract)
		if err != nil {
			return nil, nil, err
		}
		object := s.Value
		if from.Extract.Property != "" { // extract the fields of a nested object
			if object, err = providers.Property(s.Value, from.Extract.Property); err != nil {
				return nil, nil, classify(fmt.Errorf("property %q of remote key %q: %w", from.Extract.Property, from.Extract.Key, err))
			}
		}
		fields, err := providers.Fields(object)
		if err != nil {
			return nil, nil, classify(fmt.Errorf("extracting remote key %q: %w", from.Extract.Key, err))
		}
		for field, value := range fields {
			if fields[field], err = decode(value, from.Extract.DecodingStrategy); err != nil {
				return nil, nil, decodeError(from.Extract.Key, field)
			}
		}
		return fields, func(field string) string { return fmt.Sprintf("field %q of remote key %q", field, from.Extract.Key) }, nil
	}

	req, err := store.findRequest(from.Find, es.Namespace)
	if err != nil {
		return nil, nil, err
	}
	found, err := cl.FindSecrets(ctx, req)
	if err != nil {
		return nil, nil, classify(fmt.Errorf("finding remote keys under %q: %w", req.Path, err))
	}
	values := make(map[string][]byte, len(found))
	for key, s := range found {
		if values[key], err = decode(s.Value, from.Find.DecodingStrategy); err != nil {
			return nil, nil, decodeError(key, key)
		}
		// Only the expiry: a find's up to 1000 version ids would not fit the
		// version's annotations (256 KiB in all) nor its status entry.
		out.record(key, providers.Secret{ExpiresAt: s.ExpiresAt})
	}
	return values, func(key string) string { return fmt.Sprintf("remote key %q", key) }, nil
}

// record notes the version and expiry of a read.
func (f *fetched) record(key string, s providers.Secret) {
	if s.Version != "" {
		f.SourceVersions[key] = s.Version
	}
	if s.ExpiresAt != nil && (f.ExpiresAt == nil || s.ExpiresAt.Before(*f.ExpiresAt)) {
		f.ExpiresAt = s.ExpiresAt
	}
}

// checkRef applies the backend's naming rules and the tenancy rules to a
// remote reference, before any I/O, and returns it as the backend reads it.
func (s *resolvedStore) checkRef(remote vfv1alpha1.RemoteRef) (providers.Ref, error) {
	if !paths.CleanKey(remote.Key) {
		if !s.allowedKeys.AllowsAll() {
			return providers.Ref{}, s.checkKeyAllowed(remote.Key)
		}
		return providers.Ref{}, requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason,
			fmt.Errorf("remote key %q is not a clean path: remove '..', '.', empty segments, '%%' escapes, backslashes and control characters", remote.Key))
	}
	ref, err := s.provider.NormalizeRef(providers.Ref{Key: remote.Key, Version: remote.Version})
	if err != nil {
		return providers.Ref{}, requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason, err)
	}
	if err := s.checkKeyAllowed(ref.Key); err != nil {
		return providers.Ref{}, err
	}
	return ref, nil
}

// decode applies a decodingStrategy to a fetched value. Padding is
// optional, as vaults store base64 both ways.
func decode(value []byte, strategy vfv1alpha1.DecodingStrategy) ([]byte, error) {
	try := func(enc *base64.Encoding) ([]byte, error) {
		trimmed := bytes.TrimRight(bytes.TrimSpace(value), "=")
		out := make([]byte, enc.DecodedLen(len(trimmed)))
		n, err := enc.Decode(out, trimmed)
		return out[:n], err
	}
	switch strategy {
	case vfv1alpha1.DecodeBase64:
		return try(base64.RawStdEncoding)
	case vfv1alpha1.DecodeBase64URL:
		return try(base64.RawURLEncoding)
	case vfv1alpha1.DecodeAuto:
		if out, err := try(base64.RawStdEncoding); err == nil {
			return out, nil
		}
		if out, err := try(base64.RawURLEncoding); err == nil {
			return out, nil
		}
	}
	return value, nil
}

// decodeError says which value did not decode, never what it holds.
func decodeError(remoteKey, secretKey string) error {
	return requeue.New(requeue.Stall, vfv1alpha1.InvalidDataReason,
		fmt.Errorf("the value of remote key %q for Secret key %q is not valid for its decodingStrategy", remoteKey, secretKey))
}

func classify(err error) error {
	return requeue.ForProvider(err, vfv1alpha1.InvalidDataReason)
}
