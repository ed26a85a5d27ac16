package externalsecret

import (
	"context"
	"fmt"
	"maps"
	"math"
	"time"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/controllers/internal/requeue"
	"github.com/vaultferry/vaultferry/controllers/internal/tenancy"
	"github.com/vaultferry/vaultferry/providers"
)

// fetch reads everything es asks for through the store's client: dataFrom
// first, then data, so an explicit data entry wins over an extracted key.
func (r *Reconciler) fetch(ctx context.Context, store *resolvedStore, es *vfv1alpha1.ExternalSecret, forced bool) (fetched, error) {
	ns := store.store.GetNamespace()
	if store.store.GetKind() == vfv1alpha1.ClusterSecretStoreKind {
		ns = es.Namespace // tenant identity: namespace-less ServiceAccount refs resolve here
	}
	cl, err := r.Clients.Get(ctx, store.store, ns)
	if err != nil {
		return fetched{}, classify(fmt.Errorf("connecting to %s %q: %w", store.store.GetKind(), store.store.GetName(), err))
	}

	// A forced sync reads fresh; others may share a read made moments ago
	// for another ExternalSecret (within the cache's freshness window), never
	// one older than their own refresh interval.
	maxAge := es.RefreshEvery()
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
		s, err := cl.GetSecret(ctx, ref)
		if err != nil {
			return s, classify(fmt.Errorf("reading remote key %q: %w", ref.Key, err))
		}
		if s.Version != "" {
			out.SourceVersions[ref.Key] = s.Version
		}
		if s.ExpiresAt != nil && (out.ExpiresAt == nil || s.ExpiresAt.Before(*out.ExpiresAt)) {
			out.ExpiresAt = s.ExpiresAt
		}
		return s, nil
	}

	for _, from := range es.Spec.DataFrom {
		s, err := read(from.Extract)
		if err != nil {
			return fetched{}, err
		}
		fields, err := providers.Fields(s.Value)
		if err != nil {
			return fetched{}, classify(fmt.Errorf("extracting remote key %q: %w", from.Extract.Key, err))
		}
		maps.Copy(out.Data, fields)
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
		out.Data[d.SecretKey] = value
	}
	return out, nil
}

// checkRef applies the backend's naming rules and the tenancy rules to a
// remote reference, before any I/O, and returns it as the backend reads it.
func (s *resolvedStore) checkRef(remote vfv1alpha1.RemoteRef) (providers.Ref, error) {
	if !tenancy.CleanKey(remote.Key) {
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

func classify(err error) error {
	return requeue.ForProvider(err, vfv1alpha1.InvalidDataReason)
}
