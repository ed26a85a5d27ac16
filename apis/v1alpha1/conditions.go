package v1alpha1

// Condition types. Ready is the summary condition of every kind (normal
// polarity: True is good). Reconciling and Stalled have abnormal polarity and
// are present only while True.
const (
	// ReadyCondition is True when the object's last reconcile succeeded.
	ReadyCondition = "Ready"
	// ReconcilingCondition is True while a failing reconcile is being retried.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is True when only a spec change can make progress.
	StalledCondition = "Stalled"
	// RolledOutCondition (normal-true) is True when every rollout target
	// references the current version, False when one could not be moved.
	RolledOutCondition = "RolledOut"
	// LeasesHeldCondition (dynamic sources) is True while superseded
	// versions keep their leases because Pods or pod templates use them.
	LeasesHeldCondition = "LeasesHeld"
	// HeldCondition (normal-true) is present while spec.target.holdVersion
	// is set: True when workloads are held at that version, False when it
	// is not a kept version (then workloads get the current one).
	HeldCondition = "Held"
)

// Condition reasons. Event reasons are the same strings.
const (
	// SyncedReason: the current version holds the latest remote data.
	SyncedReason = "Synced"
	// ValidatedReason: the store authenticated to its backend.
	ValidatedReason = "Validated"
	// ProgressingWithRetryReason: a transient failure is being retried with backoff.
	ProgressingWithRetryReason = "ProgressingWithRetry"
	// StoreNotFoundReason: the referenced store does not exist.
	StoreNotFoundReason = "StoreNotFound"
	// StoreNotReadyReason: the referenced store exists but is not Ready.
	StoreNotReadyReason = "StoreNotReady"
	// ForbiddenReason: the backend or a tenant rule refused access.
	ForbiddenReason = "Forbidden"
	// NotFoundReason: a remote secret, version or property does not exist.
	NotFoundReason = "NotFound"
	// ThrottledReason: the backend asked the operator to slow down.
	ThrottledReason = "Throttled"
	// UnavailableReason: the backend could not be reached or failed.
	UnavailableReason = "Unavailable"
	// ProviderErrorReason: the backend failed in a way not classified otherwise.
	ProviderErrorReason = "ProviderError"
	// KubernetesAPIErrorReason: a request to the Kubernetes API server failed
	// (writing a version, listing what uses it, deleting a superseded one):
	// the vault is not involved, and a retry does not read it again.
	KubernetesAPIErrorReason = "KubernetesAPIError"
	// InvalidProviderConfigReason: the store's provider configuration cannot work.
	InvalidProviderConfigReason = "InvalidProviderConfig"
	// InvalidSpecReason: the ExternalSecret's spec cannot be satisfied as written.
	InvalidSpecReason = "InvalidSpec"
	// InvalidTemplateReason: the target template failed to parse or render.
	InvalidTemplateReason = "InvalidTemplate"
	// TemplateSourceNotFoundReason: a templateFrom ConfigMap, Secret or key does not exist (yet).
	TemplateSourceNotFoundReason = "TemplateSourceNotFound"
	// InvalidDataReason: the remote data cannot become a Secret (bad key, too large, not JSON).
	InvalidDataReason = "InvalidData"
	// TargetConflictReason: the target Secret name belongs to something else.
	TargetConflictReason = "TargetConflict"
	// VersionCreatedReason (event only): a new version after the first was
	// written (the first is announced by the Ready condition).
	VersionCreatedReason = "VersionCreated"
	// VersionPrunedReason (event only): a superseded version was deleted.
	VersionPrunedReason = "VersionPruned"
	// RolloutReason: a workload was moved to the current version.
	RolloutReason = "RolledOut"
	// ShadowedSecretReason: the first version now stands in for a Secret of
	// the same base name that vaultferry did not write.
	ShadowedSecretReason = "ShadowedSecret"
	// RolloutFailedReason: a rollout target is missing or refused the patch.
	RolloutFailedReason = "RolloutFailed"
	// HeldReason: workloads are held at spec.target.holdVersion.
	HeldReason = "Held"
	// HeldVersionNotFoundReason: spec.target.holdVersion is not a kept
	// version of this ExternalSecret.
	HeldVersionNotFoundReason = "HeldVersionNotFound"
	// HoldReleasedReason (event only): the hold was removed; workloads
	// roll to the current version.
	HoldReleasedReason = "HoldReleased"
	// InUseReason: superseded leases are held for versions still in use.
	InUseReason = "InUse"
	// VersionInUseReason (event only, on a version): the version is being
	// deleted and stays until the Pods and pod templates using it are gone.
	VersionInUseReason = "VersionInUse"
	// UnresolvedPodReason (event only): Pods admitted before their target
	// was indexed name a Secret that never exists; their workload was
	// pinned to the served version, or a bare Pod must be re-created.
	UnresolvedPodReason = "UnresolvedPod"
	// AccessUndeclaredReason (event only): a ClusterSecretStore has no
	// spec.access; it serves what its conditions admit, and says so.
	AccessUndeclaredReason = "AccessUndeclared"
	// NoneHeldReason: no superseded lease is held.
	NoneHeldReason = "NoneHeld"
	// ProvisionedReason: every selected namespace has its ExternalSecret.
	ProvisionedReason = "Provisioned"
	// PartiallyProvisionedReason: some selected namespaces have no ExternalSecret.
	PartiallyProvisionedReason = "PartiallyProvisioned"
	// NameConflictReason: an ExternalSecret of the same name, not created by
	// the ClusterExternalSecret, exists in the namespace.
	NameConflictReason = "NameConflict"
)

// Well-known labels and annotations.
const (
	// LeaseIDAnnotation on a version issued by a dynamic source holds its
	// lease id (the Secret's readers can use the credentials anyway).
	LeaseIDAnnotation = "vaultferry.io/lease-id"
	// LeaseExpiresAnnotation is when the lease (or certificate) ends, RFC 3339.
	LeaseExpiresAnnotation = "vaultferry.io/lease-expires"
	// LeaseRenewedAnnotation is when the lease was issued or last renewed, RFC 3339.
	LeaseRenewedAnnotation = "vaultferry.io/lease-renewed"
	// LeaseTTLAnnotation is the TTL the lease was issued with, in seconds.
	LeaseTTLAnnotation = "vaultferry.io/lease-ttl"
	// LeaseRenewableAnnotation is "true" when the lease can be renewed.
	LeaseRenewableAnnotation = "vaultferry.io/lease-renewable"
	// LeaseBindingAnnotation binds the lease id to the ExternalSecret that
	// issued it (a hash keyed by the operator's key): a lease id without a
	// matching binding is never renewed or revoked.
	LeaseBindingAnnotation = "vaultferry.io/lease-binding"
	// LeaseFinalizer on a dynamic ExternalSecret revokes its leases when it is deleted.
	LeaseFinalizer = "vaultferry.io/revoke-leases"
	// ClusterExternalSecretLabel on an ExternalSecret names the
	// ClusterExternalSecret that created it.
	ClusterExternalSecretLabel = "vaultferry.io/cluster-external-secret"
	// ExternalSecretLabel on a Secret names the ExternalSecret that wrote it.
	ExternalSecretLabel = "vaultferry.io/external-secret"
	// ManagedLabel marks Secrets written by the operator; its informer only
	// caches Secrets that carry it.
	ManagedLabel = "vaultferry.io/managed"
	// RevisionAnnotation on a version is its monotonic revision number.
	RevisionAnnotation = "vaultferry.io/revision"
	// SourceVersionsAnnotation on a version lists the remote version ids it holds (never values).
	SourceVersionsAnnotation = "vaultferry.io/source-versions"
	// ForceSyncAnnotation: setting it to a new value triggers an immediate
	// refresh; removing it does nothing.
	ForceSyncAnnotation = "vaultferry.io/force-sync"
	// RolloutAnnotation on a Deployment, StatefulSet or DaemonSet lists the
	// ExternalSecrets (comma-separated names) whose new versions roll it.
	RolloutAnnotation = "vaultferry.io/rollout"
	// PinAnnotationPrefix starts the pod template annotation that pins a
	// version of an ExternalSecret: vaultferry.io/version.<target.name>.
	PinAnnotationPrefix = "vaultferry.io/version."
	// ContentHashAnnotation on a version is the keyed hash of its type and
	// data; a mutable target is rewritten only when it changes.
	ContentHashAnnotation = "vaultferry.io/content-hash"
	// RetainFinalizer is set on an ExternalSecret with deletionPolicy Retain,
	// so its versions can be released from garbage collection before it goes.
	RetainFinalizer = "vaultferry.io/retain-versions"
	// ProtectionFinalizer is on every version the operator writes, as
	// kubernetes.io/pvc-protection is on a PersistentVolumeClaim: a version
	// being deleted (with its ExternalSecret, by hand, or by the garbage
	// collector) stays until no Pod or pod template uses it.
	ProtectionFinalizer = "vaultferry.io/in-use-protection"
)
