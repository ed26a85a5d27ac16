package v1alpha1

import "time"

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
