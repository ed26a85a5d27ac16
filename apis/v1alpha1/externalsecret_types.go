package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExternalSecretSpec says what to fetch, from which store, and how to write it.
//
// +kubebuilder:validation:XValidation:rule="(has(self.data) && size(self.data) > 0) || (has(self.dataFrom) && size(self.dataFrom) > 0) || has(self.dynamic)",message="list at least one remote secret to fetch in data or dataFrom"
// +kubebuilder:validation:XValidation:rule="!has(self.dynamic) || (!has(self.data) && !has(self.dataFrom))",message="dynamic replaces data and dataFrom: an ExternalSecret issues credentials or reads secrets, not both"
// +kubebuilder:validation:XValidation:rule="!has(self.dynamic) || !has(self.target) || !has(self.target.immutable) || self.target.immutable",message="dynamic credentials are versioned, one lease per version: target.immutable must stay true"
// +kubebuilder:validation:XValidation:rule="!has(self.dynamic) || !has(self.target) || !has(self.target.holdVersion)",message="target.holdVersion cannot hold dynamic credentials: their leases end; force-sync issues new ones"
type ExternalSecretSpec struct {
	// SecretStoreRef is the store to read from.
	SecretStoreRef SecretStoreRef `json:"secretStoreRef"`

	// RefreshInterval is how often the remote data is read again, a Go
	// duration such as 30s, 15m or 1h. "0" (quoted: it is a string) fetches
	// once. Defaults to 1h. Each refresh is jittered by up to ±10%. The
	// operator may raise it to a minimum (--min-refresh-interval, a
	// ClusterSecretStore's minRefreshInterval).
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="refreshInterval must be a non-negative Go duration like 30s, 15m or 1h (units: ns, us, ms, s, m, h)"
	// +optional
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`

	// RefreshPolicy says when the remote data is read again: Periodic (the
	// default) every refreshInterval and whenever the spec, the store or a
	// templateFrom source changes; OnChange only when the spec or a
	// templateFrom source changes; CreatedOnce once, when the ExternalSecret
	// has no version yet (again only if its current version is deleted).
	// The force-sync annotation fetches again under every policy.
	// +kubebuilder:default=Periodic
	// +optional
	RefreshPolicy RefreshPolicy `json:"refreshPolicy,omitempty"`

	// Target describes the Kubernetes Secret to write.
	// +optional
	Target ExternalSecretTarget `json:"target,omitempty"`

	// Data maps single remote values to keys of the Secret.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	Data []ExternalSecretData `json:"data,omitempty"`

	// DataFrom copies many values at once: the fields of a remote JSON
	// object (extract) or the secrets a search finds (find). A later entry
	// wins over an earlier one; keys from Data win over keys from DataFrom.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	DataFrom []ExternalSecretDataFrom `json:"dataFrom,omitempty"`

	// Rollout lists workloads moved to each new version.
	// +optional
	Rollout *Rollout `json:"rollout,omitempty"`

	// Dynamic makes each version one set of credentials the store's Vault
	// issues with a lease (database/creds/<role>, pki/issue/<role>, ...),
	// instead of reading stored secrets. The operator renews the lease,
	// issues new credentials before it runs out (a new version, rolled out
	// like any other) and revokes a superseded lease only when no Pod or pod
	// template references its version any more. Vault stores only.
	// +optional
	Dynamic *DynamicSource `json:"dynamic,omitempty"`
}

// DynamicSource is a Vault path that issues credentials. It is a source of
// the ExternalSecret, not of one key, because one lease is one version: the
// version is what workloads roll onto and what is revoked when nothing uses
// it, so two leases in one Secret could never be rotated apart.
// +kubebuilder:validation:XValidation:rule="!has(self.pki) || !has(self.parameters)",message="pki sets the request itself: remove parameters"
type DynamicSource struct {
	// Path issues the credentials, relative to Vault's root: database/creds/app,
	// aws/creds/deploy, pki/issue/web. The store must grant it (its
	// spec.dynamic, and through a ClusterSecretStore the namespace's
	// allowedDynamic) with this method. It is sent exactly as written, so it
	// must already be canonical: no '.' or '..' segments, no empty segment,
	// no leading or trailing slash, ASCII only. Nothing under sys/, auth/,
	// identity/ or cubbyhole/, at any depth, is ever sent.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_@=+:~-][A-Za-z0-9_.@=+:~-]*(/[A-Za-z0-9_.@=+:~-]+)*$')",message="dynamic.path must be a canonical Vault path: ASCII letters, digits and _.@=+:~- in segments separated by single slashes, with no leading or trailing slash"
	// +kubebuilder:validation:XValidation:rule="!self.matches('(^|/)[.][.]?(/|$)')",message="dynamic.path may not have '.' or '..' segments"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^(sys|auth|identity|cubbyhole)(/|$)') && !self.matches('/(sys|auth|identity|cubbyhole)/')",message="dynamic.path may not be under sys/, auth/, identity/ or cubbyhole/ (at any depth)"
	Path string `json:"path"`

	// Method is Read (GET, the default: database/creds/<role>) or Write
	// (POST with parameters).
	// +kubebuilder:validation:Enum=Read;Write
	// +kubebuilder:default=Read
	// +optional
	Method string `json:"method,omitempty"`

	// Parameters are sent with a Write.
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	Parameters map[string]string `json:"parameters,omitempty"`

	// PKI issues a certificate from Vault's PKI engine (path pki/issue/<role>):
	// the version is a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt.
	// +optional
	PKI *PKICertificate `json:"pki,omitempty"`

	// RenewAfterPercent of a lease's TTL, the lease is renewed (jittered
	// by up to 10%). Defaults to 67.
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=90
	// +kubebuilder:default=67
	// +optional
	RenewAfterPercent int32 `json:"renewAfterPercent,omitempty"`

	// ReissueBefore is how long before the credentials expire, or before
	// their lease can no longer be renewed (Vault's max TTL), new ones are
	// issued: time for workloads to roll. Defaults to a third of the TTL
	// the credentials were issued with.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="reissueBefore must be a Go duration like 10m"
	// +optional
	ReissueBefore *metav1.Duration `json:"reissueBefore,omitempty"`
}

// PKICertificate is a certificate request to Vault's PKI engine.
type PKICertificate struct {
	// CommonName of the certificate.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CommonName string `json:"commonName"`
	// AltNames are DNS subject alternative names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	AltNames []string `json:"altNames,omitempty"`
	// IPSANs are IP subject alternative names.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	IPSANs []string `json:"ipSans,omitempty"`
	// TTL of the certificate (the role's default when unset).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$')",message="ttl must be a Go duration like 24h"
	// +optional
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// RefreshPolicy says when an ExternalSecret fetches its remote data again.
// +kubebuilder:validation:Enum=Periodic;OnChange;CreatedOnce
type RefreshPolicy string

const (
	// RefreshPeriodic fetches every refreshInterval and on every change.
	RefreshPeriodic RefreshPolicy = "Periodic"
	// RefreshOnChange fetches only when the spec or a templateFrom source changes.
	RefreshOnChange RefreshPolicy = "OnChange"
	// RefreshCreatedOnce fetches only while there is no version.
	RefreshCreatedOnce RefreshPolicy = "CreatedOnce"
)

// SecretStoreRef names a SecretStore in the ExternalSecret's namespace or a ClusterSecretStore.
type SecretStoreRef struct {
	// Name of the store.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Kind of the store.
	// +kubebuilder:validation:Enum=SecretStore;ClusterSecretStore
	// +kubebuilder:default=SecretStore
	// +optional
	Kind string `json:"kind,omitempty"`
}

// DeletionPolicy says what happens to the written Secrets when the ExternalSecret is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes every version with the ExternalSecret.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain keeps every version and drops their owner references.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// ExternalSecretTarget describes the Secret written for an ExternalSecret.
// +kubebuilder:validation:XValidation:rule="!has(self.holdVersion) || !has(self.immutable) || self.immutable",message="target.holdVersion holds one of the immutable versions: it needs target.immutable true"
// +kubebuilder:validation:XValidation:rule="!has(self.holdVersion) || !has(self.name) || self.holdVersion.startsWith(self.name + '-')",message="target.holdVersion must be a version of target.name: <target.name>-<hash>"
type ExternalSecretTarget struct {
	// Name is the base name of the Secret. With immutable true every version
	// is named <name>-<hash>; with immutable false the Secret is named <name>.
	// Defaults to the ExternalSecret's name. At most 242 characters so that
	// the hash suffix fits.
	// +optional
	// +kubebuilder:validation:MaxLength=242
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="target.name must be a DNS subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name,omitempty"`

	// Immutable, the default, writes each distinct content as a new immutable
	// Secret, so a running pod never sees its Secret change. false keeps one
	// mutable Secret named after target.name, updated in place (ESO's behaviour).
	// +kubebuilder:default=true
	// +optional
	Immutable *bool `json:"immutable,omitempty"`

	// Template shapes the Secret: its type, extra metadata, and data rendered
	// from the fetched values.
	// +optional
	Template *SecretTemplate `json:"template,omitempty"`

	// History bounds how many superseded versions are kept.
	// +optional
	History *History `json:"history,omitempty"`

	// DeletionPolicy says what happens to the Secrets when this ExternalSecret is deleted.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// HoldVersion holds workloads at one kept version (a name from
	// status.versions, e.g. db-credentials-7hk2m9t4bc): a rollback that
	// lives in Git. While it is set, new Pods naming the target get this
	// version, workloads are rolled to it (and stay there through new
	// versions, which are still synced and kept), and it is never pruned.
	// Remove it to roll workloads to the current version. A name that is not
	// a kept version holds nothing: the Held condition says so and
	// workloads keep the current version.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="target.holdVersion must be the name of a version (a Secret name), as listed in status.versions"
	HoldVersion string `json:"holdVersion,omitempty"`
}

// SecretTemplate renders the target Secret from the fetched values.
type SecretTemplate struct {
	// EngineVersion is accepted for manifests written for External Secrets
	// Operator: templates are always its v2 engine (values are strings).
	// +kubebuilder:validation:Enum=v2
	// +optional
	EngineVersion string `json:"engineVersion,omitempty"`

	// Type of the Secret. Defaults to Opaque. Allowed: Opaque,
	// kubernetes.io/tls, kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg,
	// kubernetes.io/basic-auth, kubernetes.io/ssh-auth, and custom types with a
	// domain prefix (example.com/my-type). ServiceAccount and bootstrap tokens
	// are refused: the API server would fill a service-account-token Secret
	// with a token for any ServiceAccount of the namespace.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self in ['Opaque', 'kubernetes.io/tls', 'kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg', 'kubernetes.io/basic-auth', 'kubernetes.io/ssh-auth'] || (self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)+/[-._a-zA-Z0-9]+$') && !self.matches('^([^/]*[.])?(kubernetes[.]io|k8s[.]io)/'))",message="target.template.type must be Opaque, kubernetes.io/tls, kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg, kubernetes.io/basic-auth, kubernetes.io/ssh-auth or a custom type with a domain prefix (example.com/my-type); ServiceAccount and bootstrap token types are refused"
	Type corev1.SecretType `json:"type,omitempty"`

	// Metadata adds labels and annotations to every version. Their values
	// are templates too (as in ESO's v2 engine). They can change without
	// creating a new version.
	// +optional
	Metadata TemplateMetadata `json:"metadata,omitempty"`

	// Data maps Secret keys to Go text/template strings evaluated over the
	// fetched values, for example "postgres://app:{{ .password }}@db".
	// .previous holds the data of the version before the one being written
	// ({{ get .previous "password" }}), for dual-key rotation; it is empty
	// until there is such a version. The functions are sprig's string, list,
	// dict, math, encoding, hashing, regex, semver and JSON/YAML functions
	// and certificate and keystore helpers (the README lists them); nothing
	// reads the environment, files, the network, the clock, a random source
	// or the cluster. Rendering is bounded (100000 steps, 1 MiB of output,
	// 1s); errors never show the values.
	// +optional
	Data map[string]string `json:"data,omitempty"`

	// TemplateFrom adds templates kept in ConfigMaps or Secrets of the
	// ExternalSecret's namespace, or given literally. A change to a source
	// renders again. Keys from data win over keys from templateFrom.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	TemplateFrom []TemplateFrom `json:"templateFrom,omitempty"`

	// MergePolicy says what else goes into the Secret once there are
	// templates: Replace (the default) writes only the rendered keys, Merge
	// also writes the fetched keys, the rendered ones winning.
	// +kubebuilder:default=Replace
	// +optional
	MergePolicy MergePolicy `json:"mergePolicy,omitempty"`
}

// MergePolicy says whether fetched keys are written next to rendered ones.
// +kubebuilder:validation:Enum=Replace;Merge
type MergePolicy string

const (
	// MergeReplace writes only the rendered keys.
	MergeReplace MergePolicy = "Replace"
	// MergeMerge writes the fetched keys too, the rendered ones winning.
	MergeMerge MergePolicy = "Merge"
)

// TemplateFrom is one source of templates: exactly one of configMap, secret
// or literal.
// +kubebuilder:validation:XValidation:rule="[has(self.configMap), has(self.secret), has(self.literal)].filter(x, x).size() == 1",message="a templateFrom entry sets exactly one of configMap, secret or literal"
type TemplateFrom struct {
	// ConfigMap holds templates, by key.
	// +optional
	ConfigMap *TemplateSourceRef `json:"configMap,omitempty"`
	// Secret holds templates, by key. A ServiceAccount token Secret is refused.
	// +optional
	Secret *TemplateSourceRef `json:"secret,omitempty"`
	// Literal is a template that renders to a YAML mapping of keys to
	// values, as a KeysAndValues item does.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Literal *string `json:"literal,omitempty"`
	// Target is where the rendered keys go: Data (the default), Annotations
	// or Labels of every version. Annotations and labels can change without
	// a new version; they cannot set vaultferry.io/ keys or
	// kubernetes.io/service-account.* annotations.
	// +kubebuilder:default=Data
	// +optional
	Target TemplateTarget `json:"target,omitempty"`
}

// TemplateTarget is the part of the Secret a templateFrom entry renders.
// +kubebuilder:validation:Enum=Data;Annotations;Labels
type TemplateTarget string

const (
	// TemplateTargetData renders Secret data.
	TemplateTargetData TemplateTarget = "Data"
	// TemplateTargetAnnotations renders annotations.
	TemplateTargetAnnotations TemplateTarget = "Annotations"
	// TemplateTargetLabels renders labels.
	TemplateTargetLabels TemplateTarget = "Labels"
)

// TemplateSourceRef names a ConfigMap or Secret in the ExternalSecret's own
// namespace and the keys of it that hold templates.
// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="templateFrom reads only from the ExternalSecret's own namespace: remove namespace"
type TemplateSourceRef struct {
	// Name of the ConfigMap or Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
	// Namespace is not supported: templates come from the ExternalSecret's
	// own namespace. It exists to be refused with a clear message.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Items are the keys that hold templates.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	Items []TemplateSourceItem `json:"items"`
}

// TemplateSourceItem is one key of a template source.
type TemplateSourceItem struct {
	// Key in the ConfigMap or Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
	// TemplateAs says how the value is used: Values (the default) renders
	// it as the template of the same key; KeysAndValues renders it to a
	// YAML mapping whose keys and values are written.
	// +kubebuilder:default=Values
	// +optional
	TemplateAs TemplateScope `json:"templateAs,omitempty"`
}

// TemplateScope says how a template source item is rendered.
// +kubebuilder:validation:Enum=Values;KeysAndValues
type TemplateScope string

const (
	// TemplateScopeValues renders the item as the template of its own key.
	TemplateScopeValues TemplateScope = "Values"
	// TemplateScopeKeysAndValues renders the item to a YAML mapping of keys to values.
	TemplateScopeKeysAndValues TemplateScope = "KeysAndValues"
)

// TemplateMetadata is extra metadata for the written Secrets. Keys under
// vaultferry.io/ belong to the operator, and the kubernetes.io/service-account.*
// annotations would make the API server treat the Secret as a token.
//
// +kubebuilder:validation:XValidation:rule="!has(self.labels) || self.labels.all(k, !k.matches('^([^/]*[.])?vaultferry[.]io/'))",message="template labels cannot set vaultferry.io/ keys: they belong to the operator"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || self.annotations.all(k, !k.matches('^([^/]*[.])?vaultferry[.]io/') && !k.startsWith('kubernetes.io/service-account.'))",message="template annotations cannot set vaultferry.io/ keys (they belong to the operator) or kubernetes.io/service-account.* (they would make a token of the Secret)"
type TemplateMetadata struct {
	// Labels added to every version.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations added to every version.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// History bounds the superseded versions kept for rollbacks.
type History struct {
	// Limit is how many versions, the current one included, are kept at least.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=3
	// +optional
	Limit int32 `json:"limit,omitempty"`

	// MinRetention keeps every superseded version at least this long after it
	// was superseded, whatever Limit says.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="history.minRetention must be a non-negative Go duration like 30s, 15m or 1h (units: ns, us, ms, s, m, h)"
	// +optional
	MinRetention *metav1.Duration `json:"minRetention,omitempty"`
}

// ExternalSecretData maps one remote value to one Secret key.
type ExternalSecretData struct {
	// SecretKey is the key in the written Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	SecretKey string `json:"secretKey"`

	// RemoteRef is the remote value.
	RemoteRef RemoteRef `json:"remoteRef"`
}

// RemoteRef addresses a value in the store's backend.
type RemoteRef struct {
	// Key is the remote secret's path or name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Key string `json:"key"`

	// Property selects a field of a JSON value, with dots for nesting (a.b.c).
	// +optional
	Property string `json:"property,omitempty"`

	// Version pins a remote version. Empty means the latest. Each provider
	// checks its own format (a Vault KV version number, an AWS version id or
	// stage, a 32-hex-digit Key Vault version).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_+=.@,:-]*$`
	// +kubebuilder:validation:XValidation:rule="!self.contains('..')",message="remoteRef.version cannot contain '..'"
	Version string `json:"version,omitempty"`

	// DecodingStrategy decodes values stored encoded in the vault: None (the
	// default), Base64, Base64URL, or Auto (Base64, then Base64URL, else the
	// value as it is; a value that happens to be valid base64 is decoded).
	// With dataFrom.extract it applies to every field.
	// +kubebuilder:default=None
	// +optional
	DecodingStrategy DecodingStrategy `json:"decodingStrategy,omitempty"`
}

// DecodingStrategy says how a fetched value is decoded.
// +kubebuilder:validation:Enum=None;Base64;Base64URL;Auto
type DecodingStrategy string

const (
	// DecodeNone keeps the value as it is.
	DecodeNone DecodingStrategy = "None"
	// DecodeBase64 decodes standard base64 (padding optional).
	DecodeBase64 DecodingStrategy = "Base64"
	// DecodeBase64URL decodes URL-safe base64 (padding optional).
	DecodeBase64URL DecodingStrategy = "Base64URL"
	// DecodeAuto tries Base64, then Base64URL, and keeps the value otherwise.
	DecodeAuto DecodingStrategy = "Auto"
)

// ExternalSecretDataFrom copies many values at once: every field of one
// remote JSON object (extract), or every remote secret a search finds
// (find). Rewrite then renames the keys.
// +kubebuilder:validation:XValidation:rule="has(self.extract) != has(self.find)",message="a dataFrom entry sets exactly one of extract or find"
type ExternalSecretDataFrom struct {
	// Extract copies every top-level field of a remote JSON object. Nested
	// values are written as JSON.
	// +optional
	Extract *RemoteRef `json:"extract,omitempty"`

	// Find copies every remote secret under a path, with a name matching a
	// pattern and carrying tags, each as one key. A ClusterSecretStore's
	// allowedKeys apply to every found key: a key this namespace may not
	// read is never read and never named.
	// +optional
	Find *ExternalSecretFind `json:"find,omitempty"`

	// Rewrite renames the keys extract or find produced, one step after the
	// other. Without rewrite, a found key's characters outside
	// [-._a-zA-Z0-9] become "_" ("app/db" → "app_db"); with rewrite, the
	// steps decide and a key that is not a valid Secret key is an error.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Rewrite []ExternalSecretRewrite `json:"rewrite,omitempty"`
}

// ExternalSecretFind searches a store for remote secrets. Every condition
// set must hold.
// +kubebuilder:validation:XValidation:rule="has(self.path) || has(self.name) || has(self.tags)",message="find needs at least one of path, name or tags"
type ExternalSecretFind struct {
	// Path limits the search: a folder for Vault (KV v2 lists metadata
	// recursively below it), a name prefix for AWS Secrets Manager, Azure
	// Key Vault and the fake provider.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Path *string `json:"path,omitempty"`

	// Name keeps the keys whose full remote name matches a regular expression.
	// +optional
	Name *FindName `json:"name,omitempty"`

	// Tags keeps the secrets that carry every one of these tags: Vault KV v2
	// custom_metadata, AWS and Azure tags.
	// +optional
	// +kubebuilder:validation:MaxProperties=20
	Tags map[string]string `json:"tags,omitempty"`

	// MaxKeys bounds how many keys the search may return. More is an
	// InvalidData error and the Secret keeps its current version. Keys this
	// namespace may not read are not counted.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxKeys int32 `json:"maxKeys,omitempty"`

	// ConversionStrategy is accepted for manifests written for External
	// Secrets Operator: only Default (invalid characters become "_").
	// +kubebuilder:validation:Enum=Default
	// +optional
	ConversionStrategy string `json:"conversionStrategy,omitempty"`

	// DecodingStrategy decodes every found value: None (the default),
	// Base64, Base64URL or Auto.
	// +kubebuilder:default=None
	// +optional
	DecodingStrategy DecodingStrategy `json:"decodingStrategy,omitempty"`
}

// FindName matches remote secret names.
type FindName struct {
	// RegExp is a regular expression (RE2 syntax, unanchored) the full
	// remote name must match.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	RegExp string `json:"regexp"`
}

// ExternalSecretRewrite is one renaming step: a regular expression
// replacement or a template over the key.
// +kubebuilder:validation:XValidation:rule="has(self.regexp) != has(self.transform)",message="a rewrite step sets exactly one of regexp or transform"
type ExternalSecretRewrite struct {
	// Regexp replaces every match of source in the key with target, which
	// may use $1 or ${name} for groups.
	// +optional
	Regexp *RewriteRegexp `json:"regexp,omitempty"`

	// Transform renders a template with the key as .value, for example
	// '{{ .value | upper }}'. It has the template functions of
	// target.template.
	// +optional
	Transform *RewriteTransform `json:"transform,omitempty"`
}

// RewriteRegexp replaces matches of Source with Target.
type RewriteRegexp struct {
	// Source is a regular expression (RE2 syntax).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Source string `json:"source"`
	// Target replaces each match; $1 or ${name} insert groups.
	// +kubebuilder:validation:MaxLength=256
	Target string `json:"target"`
}

// RewriteTransform renders a key name with a template.
type RewriteTransform struct {
	// Template produces the new key from .value, the current key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Template string `json:"template"`
}

// Rollout moves workloads to each new version: every reference to an older
// version of this ExternalSecret in a target's pod template (volumes,
// projected volumes, env, envFrom, imagePullSecrets) is rewritten to the
// current version, which rolls the workload. Workloads can also opt in with
// the annotation vaultferry.io/rollout: "<ExternalSecret name>[,...]". A
// workload that references no version of this ExternalSecret is never touched.
type Rollout struct {
	// Targets are workloads in this namespace, by name or by label selector.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Targets []RolloutTarget `json:"targets,omitempty"`
}

// RolloutTarget names workloads of one kind, by name or by label selector.
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.selector)",message="a rollout target sets exactly one of name or selector"
type RolloutTarget struct {
	// Kind of the workload.
	// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
	Kind string `json:"kind"`
	// Name of the workload.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Name string `json:"name,omitempty"`
	// Selector picks workloads of this kind by label.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// SecretVersion records one immutable version.
type SecretVersion struct {
	// Name of the Secret.
	Name string `json:"name"`
	// Hash is the keyed content hash in the name.
	Hash string `json:"hash"`
	// Revision orders versions; higher is newer.
	Revision int64 `json:"revision"`
	// CreatedAt is when this version was first written.
	CreatedAt metav1.Time `json:"createdAt"`
	// SupersededAt is when a newer version replaced it.
	// +optional
	SupersededAt *metav1.Time `json:"supersededAt,omitempty"`
	// SourceVersions are the remote version ids it holds, by remote key
	// (never values), for the keys of data and dataFrom.extract; the many
	// keys of a dataFrom.find are not listed.
	// +optional
	SourceVersions map[string]string `json:"sourceVersions,omitempty"`
}

// ExternalSecretStatus is the observed state of an ExternalSecret.
type ExternalSecretStatus struct {
	// CurrentSecretName is the Secret workloads should use now.
	// +optional
	CurrentSecretName string `json:"currentSecretName,omitempty"`

	// Revision of the current version.
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// ShadowedSecret names a Secret this operator did not write that already
	// has target.name (for example one External Secrets Operator wrote
	// before a migration), where the stable-reference admission policies are
	// installed. Until this ExternalSecret has a version, Pods naming
	// target.name keep using that Secret instead of being refused; from the
	// first version on they get the versions. The operator never changes or
	// deletes it. Cleared at the first sync.
	// +optional
	ShadowedSecret string `json:"shadowedSecret,omitempty"`

	// Versions lists the kept versions, newest first.
	// +optional
	// +listType=atomic
	Versions []SecretVersion `json:"versions,omitempty"`

	// RefreshTime is when the remote data was last read by a sync that
	// changed something (a new version, a condition, an observed spec): a
	// refresh that finds the same data writes nothing, so it is not recorded
	// here. vaultferry_externalsecret_last_sync_timestamp_seconds has the
	// time of every successful read.
	// +optional
	RefreshTime *metav1.Time `json:"refreshTime,omitempty"`

	// StoreGeneration is the generation of the store the last sync read
	// through; a change of the store's spec triggers a refresh.
	// +optional
	StoreGeneration int64 `json:"storeGeneration,omitempty"`

	// TemplateSources are the resourceVersions of the templateFrom
	// ConfigMaps and Secrets the last sync rendered, by "<Kind>/<name>": a
	// change of one renders again.
	// +optional
	TemplateSources map[string]string `json:"templateSources,omitempty"`

	// RolloutRevision is the revision last rolled out to the rollout targets.
	// Workloads are rolled only when the current revision moves past it (or
	// on force-sync), so `kubectl rollout undo` is not fought in a loop.
	// +optional
	RolloutRevision int64 `json:"rolloutRevision,omitempty"`

	// HeldVersion is the version workloads are held at: spec.target.holdVersion
	// while it names a kept version. New Pods get it, and rollouts move
	// workloads to it instead of currentSecretName.
	// +optional
	HeldVersion string `json:"heldVersion,omitempty"`

	// RolloutHeldVersion is the held version last rolled out ("" for
	// none): with rolloutRevision it says whether workloads must move.
	// +optional
	RolloutHeldVersion string `json:"rolloutHeldVersion,omitempty"`

	// SyncedForceSync is the force-sync annotation value last acted on.
	// +optional
	SyncedForceSync string `json:"syncedForceSync,omitempty"`

	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (summary), Reconciling, Stalled; RolledOut after a
	// rollout; Held while target.holdVersion is set.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ExternalSecret brings remote secrets into its namespace as versioned,
// immutable Kubernetes Secrets.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vfes,categories=vaultferry
// +kubebuilder:printcolumn:name="Store",type=string,JSONPath=`.spec.secretStoreRef.name`
// +kubebuilder:printcolumn:name="Refresh",type=string,JSONPath=`.spec.refreshInterval`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.currentSecretName`
// +kubebuilder:printcolumn:name="Held",type=string,JSONPath=`.status.heldVersion`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ExternalSecret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what to fetch and how to write it.
	Spec ExternalSecretSpec `json:"spec"`

	// Status is the sync state.
	// +optional
	// The default makes a new object's status read as "generation 0
	// observed", so GitOps health checks (kstatus) report it InProgress
	// until the operator has looked at it, never Current.
	// +kubebuilder:default={observedGeneration: 0}
	Status ExternalSecretStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ExternalSecretList is a list of ExternalSecrets.
type ExternalSecretList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the ExternalSecrets.
	Items []ExternalSecret `json:"items"`
}
