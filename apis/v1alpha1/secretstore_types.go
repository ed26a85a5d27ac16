package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretStoreSpec is shared by SecretStore and ClusterSecretStore: how to
// reach one backend, and how hard the operator may call it.
type SecretStoreSpec struct {
	// Provider is the backend this store reads from.
	Provider SecretStoreProvider `json:"provider"`

	// RateLimit bounds the calls made through this store, across every
	// ExternalSecret using it. Without it the limit adapts: it starts at 100
	// requests a second, halves at each Throttled answer of the backend (at
	// most once a second, down to 1) and recovers by a quarter after each 30 s
	// without one. Set it for a fixed limit.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// RefreshInterval is how often the operator re-checks that the store can
	// authenticate, a Go duration such as 30s, 15m or 1h. Defaults to 5m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="refreshInterval must be a non-negative Go duration like 30s, 15m or 1h (units: ns, us, ms, s, m, h)"
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`

	// MinRefreshInterval raises the refreshInterval of every ExternalSecret
	// using this store to at least this duration, so that no tenant can
	// refresh a shared store faster (the operator's --min-refresh-interval
	// applies too; the larger wins). Fetch-once ExternalSecrets are unaffected.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="minRefreshInterval must be a non-negative Go duration like 30s, 15m or 1h (units: ns, us, ms, s, m, h)"
	MinRefreshInterval *metav1.Duration `json:"minRefreshInterval,omitempty"`

	// Access declares how open a ClusterSecretStore is, and is required
	// there: which namespaces it serves and which keys they read. The API
	// refuses a ClusterSecretStore whose conditions open more or less than
	// it declares, so a store is never open by omission. Not allowed on a
	// namespaced SecretStore (it serves its own namespace).
	// +optional
	Access *StoreAccess `json:"access,omitempty"`

	// Conditions restrict which namespaces may use a ClusterSecretStore, and
	// which remote keys each may read. A namespace is admitted when any
	// condition admits it. Not allowed on a namespaced SecretStore.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Conditions []ClusterSecretStoreCondition `json:"conditions,omitempty"`

	// Dynamic lists the Vault paths this store may issue credentials from
	// (an ExternalSecret's spec.dynamic), each with the methods it may be
	// used with. Empty, the default, issues nothing: a store that reads KV
	// never implies issuing leases or writing. Through a ClusterSecretStore,
	// a namespace may issue only from paths that both this list and its
	// condition's allowedDynamic grant. Vault stores only.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Dynamic []DynamicGrant `json:"dynamic,omitempty"`
}

// AccessScope is how much of one dimension a ClusterSecretStore opens.
// +kubebuilder:validation:Enum=Selected;All
type AccessScope string

const (
	// AccessSelected opens only what the conditions select.
	AccessSelected AccessScope = "Selected"
	// AccessAll opens everything in that dimension.
	AccessAll AccessScope = "All"
)

// StoreAccess is a ClusterSecretStore's declared openness, checked against
// its conditions.
type StoreAccess struct {
	// Namespaces is Selected when only the namespaces a condition lists,
	// selects by label or matches by regex may use the store (there are
	// conditions, and none has an empty namespaceSelector, which selects
	// every namespace), or All when every namespace may (no conditions, or
	// one with namespaceSelector: {}).
	Namespaces AccessScope `json:"namespaces"`

	// Keys is Selected when each admitted namespace reads only the keys its
	// conditions' allowedKeys allow (every condition lists allowedKeys), or
	// All when a namespace may read every key the store's credentials reach
	// (no conditions, or one without allowedKeys).
	Keys AccessScope `json:"keys"`
}

// DynamicMethod is how credentials are asked for: Read (GET, as
// database/creds/<role>) or Write (POST with parameters, as pki/issue/<role>).
// +kubebuilder:validation:Enum=Read;Write
type DynamicMethod string

const (
	// DynamicRead issues by reading the path.
	DynamicRead DynamicMethod = "Read"
	// DynamicWrite issues by writing parameters to the path.
	DynamicWrite DynamicMethod = "Write"
)

// DynamicGrant lets ExternalSecrets issue credentials from the Vault paths
// matching Path, with the listed methods, with the store's identity.
type DynamicGrant struct {
	// Path is a pattern of Vault paths, relative to Vault's root: * matches
	// within one path segment, ** across segments; in a ClusterSecretStore
	// condition, {namespace} stands for the ExternalSecret's namespace. The
	// first segment, the secrets engine's mount, is literal. For example
	// database/creds/app, database/creds/* or pki/issue/{namespace}-web.
	// Nothing under sys/, auth/, identity/ or cubbyhole/ (at any depth:
	// Vault Enterprise namespaces nest them) can be granted.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_@=+:~-][A-Za-z0-9_.@=+:~-]*(/[A-Za-z0-9_.@=+:~*{}-]+)*$')",message="path must be a Vault path pattern: ASCII letters, digits and _.@=+:~- in segments separated by single slashes, no leading or trailing slash, a literal first segment (the mount); * and ** only after it"
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="path may not have '.' or '..' segments"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(.*/)?(sys|auth|identity|cubbyhole)(/|$)')",message="sys/, auth/, identity/ and cubbyhole/ paths cannot be granted"
	Path string `json:"path"`

	// Methods the matching paths may be used with. Write is never implied
	// by Read: name it to let ExternalSecrets send parameters.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	Methods []DynamicMethod `json:"methods"`
}

// RateLimit is a client-side token bucket.
type RateLimit struct {
	// QPS is the sustained number of requests per second.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	QPS int32 `json:"qps"`

	// Burst is the number of requests allowed at once above QPS.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +optional
	Burst int32 `json:"burst,omitempty"`
}

// ClusterSecretStoreCondition admits a set of namespaces to a ClusterSecretStore.
// A namespace matches when it is listed, matches the selector, or matches a regex.
type ClusterSecretStoreCondition struct {
	// Namespaces lists admitted namespaces by name.
	// +optional
	// +listType=set
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelector admits namespaces by label.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// NamespaceRegexes admits namespaces whose name matches one of these
	// regular expressions (RE2, anchored at both ends).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.all(r, ''.matches(r) || !''.matches(r))",message="namespaceRegexes must be valid RE2 regular expressions"
	NamespaceRegexes []string `json:"namespaceRegexes,omitempty"`

	// AllowedKeys limits the remote keys the admitted namespaces may read:
	// glob patterns (* matches within one path segment, ** across segments)
	// in which {namespace} is replaced by the ExternalSecret's namespace,
	// for example "tenants/{namespace}/*". Empty allows every key.
	// +optional
	// +listType=set
	AllowedKeys []string `json:"allowedKeys,omitempty"`

	// AllowedDynamic lists the paths the admitted namespaces may issue
	// credentials from through this store, and with which methods, within
	// what the store's spec.dynamic grants ({namespace} stands for the
	// ExternalSecret's namespace). Empty: these namespaces issue nothing.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	AllowedDynamic []DynamicGrant `json:"allowedDynamic,omitempty"`
}

// SecretStoreStatus reports whether a store can be used.
type SecretStoreStatus struct {
	// Conditions: Ready is True when the operator authenticated to the backend;
	// Reconciling (a failed check is retried) and Stalled (only a spec change
	// can help) follow the kstatus convention GitOps health checks read.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Access says how open a ClusterSecretStore is, as the operator
	// enforces it, for example "selected namespaces, selected keys"; it
	// starts with "undeclared" for a store created before spec.access.
	// +optional
	Access string `json:"access,omitempty"`
}

// SecretStore is a connection to one secret backend, usable by the
// ExternalSecrets of its own namespace. Every credential it references is read
// from its own namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=vfss,categories=vaultferry
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SecretStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec describes the backend.
	// +kubebuilder:validation:XValidation:rule="!has(self.conditions)",message="conditions are only allowed on a ClusterSecretStore"
	// +kubebuilder:validation:XValidation:rule="!has(self.access)",message="access is only for a ClusterSecretStore: a SecretStore serves its own namespace"
	// +kubebuilder:validation:XValidation:rule="!has(self.dynamic) || has(self.provider.vault)",message="dynamic grants are for Vault stores only"
	// +kubebuilder:validation:XValidation:rule="!self.provider.?vault.?auth.?kubernetes.hasValue() || self.provider.vault.auth.kubernetes.?serviceAccountRef.hasValue()",message="a SecretStore cannot log in to Vault with the operator's own ServiceAccount token: set provider.vault.auth.kubernetes.serviceAccountRef to a ServiceAccount of this namespace"
	// +kubebuilder:validation:XValidation:rule="!self.provider.?aws.hasValue() || self.provider.aws.?auth.hasValue()",message="a SecretStore cannot use the operator's own AWS credentials: set provider.aws.auth (secretRef or jwt with a ServiceAccount of this namespace)"
	// +kubebuilder:validation:XValidation:rule="!self.provider.?azurekv.hasValue() || self.provider.azurekv.?authType.orValue('ServicePrincipal') != 'ManagedIdentity'",message="a SecretStore cannot use the managed identity of the operator's node or pod: use authType ServicePrincipal or WorkloadIdentity"
	// +kubebuilder:validation:XValidation:rule="!self.provider.?vault.?auth.?tokenSecretRef.?namespace.hasValue() && !self.provider.?vault.?caProvider.?namespace.hasValue() && !self.provider.?vault.?clientTLSSecretRef.?namespace.hasValue() && !self.provider.?vault.?auth.?appRole.?roleRef.?namespace.hasValue() && !self.provider.?vault.?auth.?appRole.?secretRef.?namespace.hasValue() && !self.provider.?vault.?auth.?kubernetes.?serviceAccountRef.?namespace.hasValue() && !self.provider.?aws.?auth.?secretRef.?accessKeyIDSecretRef.?namespace.hasValue() && !self.provider.?aws.?auth.?secretRef.?secretAccessKeySecretRef.?namespace.hasValue() && !self.provider.?aws.?auth.?secretRef.?sessionTokenSecretRef.?namespace.hasValue() && !self.provider.?aws.?auth.?jwt.?serviceAccountRef.?namespace.hasValue() && !self.provider.?azurekv.?authSecretRef.?clientId.?namespace.hasValue() && !self.provider.?azurekv.?authSecretRef.?clientSecret.?namespace.hasValue() && !self.provider.?azurekv.?authSecretRef.?clientCertificate.?namespace.hasValue() && !self.provider.?azurekv.?serviceAccountRef.?namespace.hasValue() && !self.provider.?fake.?authSecretRef.?namespace.hasValue()",message="a SecretStore can only use Secrets and ServiceAccounts in its own namespace: remove namespace from its references (a ClusterSecretStore can name other namespaces)"
	Spec SecretStoreSpec `json:"spec"`

	// Status is the store's observed state.
	// +optional
	// The default makes a new object's status read as "generation 0
	// observed", so GitOps health checks (kstatus) report it InProgress
	// until the operator has looked at it, never Current.
	// +kubebuilder:default={observedGeneration: 0}
	Status SecretStoreStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SecretStoreList is a list of SecretStores.
type SecretStoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the SecretStores.
	Items []SecretStore `json:"items"`
}

// ClusterSecretStore is a connection to one secret backend shared by the
// namespaces its conditions admit. Credential Secrets it references must name
// their namespace; a serviceAccountRef without namespace means the
// ExternalSecret's own ServiceAccount, so tenants authenticate as themselves.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=vfcss,categories=vaultferry
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Access",type=string,JSONPath=`.status.access`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterSecretStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec describes the backend and who may use it.
	// +kubebuilder:validation:XValidation:rule="has(self.access)",message="a ClusterSecretStore must declare how open it is: set spec.access.namespaces (Selected: only the namespaces its conditions admit; All: every namespace) and spec.access.keys (Selected: only each condition's allowedKeys; All: every key its credentials reach)"
	// +kubebuilder:validation:XValidation:rule="!has(self.access) || self.access.namespaces != 'Selected' || (has(self.conditions) && size(self.conditions) > 0 && self.conditions.all(c, !has(c.namespaceSelector) || size(c.namespaceSelector.?matchLabels.orValue({})) + size(c.namespaceSelector.?matchExpressions.orValue([])) > 0))",message="access.namespaces is Selected, but there are no conditions, or one has an empty namespaceSelector, which selects every namespace: add conditions that name or select namespaces, or declare access.namespaces: All"
	// +kubebuilder:validation:XValidation:rule="!has(self.access) || self.access.namespaces != 'All' || !has(self.conditions) || size(self.conditions) == 0 || self.conditions.exists(c, has(c.namespaceSelector) && size(c.namespaceSelector.?matchLabels.orValue({})) + size(c.namespaceSelector.?matchExpressions.orValue([])) == 0)",message="access.namespaces is All, but the conditions admit only the namespaces they select: declare access.namespaces: Selected, or add a condition with namespaceSelector: {} to admit every namespace"
	// +kubebuilder:validation:XValidation:rule="!has(self.access) || self.access.keys != 'Selected' || (has(self.conditions) && size(self.conditions) > 0 && self.conditions.all(c, size(c.?allowedKeys.orValue([])) > 0))",message="access.keys is Selected, but there are no conditions, or one has no allowedKeys, which lets its namespaces read every key: give every condition allowedKeys, or declare access.keys: All"
	// +kubebuilder:validation:XValidation:rule="!has(self.access) || self.access.keys != 'All' || !has(self.conditions) || size(self.conditions) == 0 || self.conditions.exists(c, size(c.?allowedKeys.orValue([])) == 0)",message="access.keys is All, but every condition lists allowedKeys: declare access.keys: Selected"
	// +kubebuilder:validation:XValidation:rule="!has(self.dynamic) || has(self.provider.vault)",message="dynamic grants are for Vault stores only"
	// +kubebuilder:validation:XValidation:rule="!self.provider.?vault.?auth.?tokenSecretRef.hasValue() || self.provider.vault.auth.tokenSecretRef.?namespace.hasValue()",message="in a ClusterSecretStore, tokenSecretRef must name its namespace"
	// +kubebuilder:validation:XValidation:rule="!self.provider.?aws.?auth.?secretRef.hasValue() || (self.provider.aws.auth.secretRef.accessKeyIDSecretRef.?namespace.hasValue() && self.provider.aws.auth.secretRef.secretAccessKeySecretRef.?namespace.hasValue())",message="in a ClusterSecretStore, AWS key references must name their namespace"
	// +kubebuilder:validation:XValidation:rule="!self.provider.?azurekv.?authSecretRef.hasValue() || (self.provider.azurekv.authSecretRef.clientId.?namespace.hasValue() && (!self.provider.azurekv.authSecretRef.?clientSecret.hasValue() || self.provider.azurekv.authSecretRef.clientSecret.?namespace.hasValue()) && (!self.provider.azurekv.authSecretRef.?clientCertificate.hasValue() || self.provider.azurekv.authSecretRef.clientCertificate.?namespace.hasValue()))",message="in a ClusterSecretStore, Azure credential references must name their namespace"
	// +kubebuilder:validation:XValidation:rule="(!self.provider.?vault.?auth.?appRole.hasValue() || (self.provider.vault.auth.appRole.secretRef.?namespace.hasValue() && (!self.provider.vault.auth.appRole.?roleRef.hasValue() || self.provider.vault.auth.appRole.roleRef.?namespace.hasValue()))) && (!self.provider.?vault.?caProvider.hasValue() || self.provider.vault.caProvider.?namespace.hasValue()) && (!self.provider.?vault.?clientTLSSecretRef.hasValue() || self.provider.vault.clientTLSSecretRef.?namespace.hasValue()) && (!self.provider.?aws.?auth.?secretRef.?sessionTokenSecretRef.hasValue() || self.provider.aws.auth.secretRef.sessionTokenSecretRef.?namespace.hasValue()) && (!self.provider.?fake.?authSecretRef.hasValue() || self.provider.fake.authSecretRef.?namespace.hasValue())",message="in a ClusterSecretStore, every Secret and ConfigMap reference (appRole roleRef and secretRef, caProvider, clientTLSSecretRef, sessionTokenSecretRef, authSecretRef) must name its namespace"
	Spec SecretStoreSpec `json:"spec"`

	// Status is the store's observed state.
	// +optional
	// The default makes a new object's status read as "generation 0
	// observed", so GitOps health checks (kstatus) report it InProgress
	// until the operator has looked at it, never Current.
	// +kubebuilder:default={observedGeneration: 0}
	Status SecretStoreStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterSecretStoreList is a list of ClusterSecretStores.
type ClusterSecretStoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the ClusterSecretStores.
	Items []ClusterSecretStore `json:"items"`
}
