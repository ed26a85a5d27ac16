package v1alpha1

import (
	"strings"
	"time"
)

// Defaults applied when the API server did not (objects built in Go).
const (
	DefaultRefreshInterval = time.Hour
	DefaultHistoryLimit    = 3
)

// TargetBaseName is the base name of the written Secrets.
func (es *ExternalSecret) TargetBaseName() string {
	if es.Spec.Target.Name != "" {
		return es.Spec.Target.Name
	}
	return es.Name
}

// IsImmutable reports whether versions are immutable (the default).
func (es *ExternalSecret) IsImmutable() bool {
	return es.Spec.Target.Immutable == nil || *es.Spec.Target.Immutable
}

// Refresh is the refresh policy, defaulted.
func (es *ExternalSecret) Refresh() RefreshPolicy {
	if es.Spec.RefreshPolicy == "" {
		return RefreshPeriodic
	}
	return es.Spec.RefreshPolicy
}

// RefreshEvery is the refresh interval; 0 means no periodic refresh (an
// interval of 0, or a policy other than Periodic).
func (es *ExternalSecret) RefreshEvery() time.Duration {
	if es.Refresh() != RefreshPeriodic {
		return 0
	}
	if es.Spec.RefreshInterval == nil {
		return DefaultRefreshInterval
	}
	return es.Spec.RefreshInterval.Duration
}

// HistoryLimit is how many versions are kept at least, the current one included.
func (es *ExternalSecret) HistoryLimit() int {
	if h := es.Spec.Target.History; h != nil && h.Limit > 0 {
		return int(h.Limit)
	}
	return DefaultHistoryLimit
}

// MinRetention is how long a superseded version is kept at least.
func (es *ExternalSecret) MinRetention() time.Duration {
	if h := es.Spec.Target.History; h != nil && h.MinRetention != nil {
		return h.MinRetention.Duration
	}
	return 0
}

// StoreKind is the kind of the referenced store, defaulted.
func (es *ExternalSecret) StoreKind() string {
	if es.Spec.SecretStoreRef.Kind == "" {
		return SecretStoreKind
	}
	return es.Spec.SecretStoreRef.Kind
}

// ForceSyncRequested says whether the force-sync annotation asks for a
// sync not done yet: it has a value other than the last one acted on. Its
// removal asks for nothing: Flux removes an annotation set with kubectl at
// its next interval.
func (es *ExternalSecret) ForceSyncRequested() bool {
	value := es.Annotations[ForceSyncAnnotation]
	return value != "" && value != es.Status.SyncedForceSync
}

// ServedVersion is the version workloads get: the held version while a
// hold is in effect, else the current one.
func (es *ExternalSecret) ServedVersion() string {
	if es.Status.HeldVersion != "" {
		return es.Status.HeldVersion
	}
	return es.Status.CurrentSecretName
}

// EffectiveAccess is how open a ClusterSecretStore's conditions make it,
// whatever spec.access declares (the API refuses a mismatch): every
// namespace without conditions or with a condition whose namespaceSelector
// is empty, every key without conditions or with a condition that lists no
// allowedKeys.
func (s *SecretStoreSpec) EffectiveAccess() StoreAccess {
	access := StoreAccess{Namespaces: AccessSelected, Keys: AccessSelected}
	if len(s.Conditions) == 0 {
		return StoreAccess{Namespaces: AccessAll, Keys: AccessAll}
	}
	for _, c := range s.Conditions {
		if sel := c.NamespaceSelector; sel != nil && len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			access.Namespaces = AccessAll
		}
		if len(c.AllowedKeys) == 0 {
			access.Keys = AccessAll
		}
	}
	return access
}

// String says how open a is: "all namespaces, selected keys".
func (a StoreAccess) String() string {
	return strings.ToLower(string(a.Namespaces)) + " namespaces, " + strings.ToLower(string(a.Keys)) + " keys"
}

// AccessSummary says how open a ClusterSecretStore is, for its status:
// "all namespaces, selected keys", prefixed "undeclared: " when spec.access
// is missing (a store created before it existed).
func (s *SecretStoreSpec) AccessSummary() string {
	if s.Access == nil {
		return "undeclared: " + s.EffectiveAccess().String()
	}
	return s.EffectiveAccess().String()
}
