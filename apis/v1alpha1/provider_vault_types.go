package v1alpha1

// VaultKVVersion is the version of a Vault KV secrets engine.
// +kubebuilder:validation:Enum=v1;v2
type VaultKVVersion string

const (
	// VaultKVv1 is the unversioned KV engine.
	VaultKVv1 VaultKVVersion = "v1"
	// VaultKVv2 is the versioned KV engine.
	VaultKVv2 VaultKVVersion = "v2"
)

// VaultProvider configures access to a HashiCorp Vault KV secrets engine.
type VaultProvider struct {
	// Server is the Vault address, for example https://vault.example.com:8200.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	Server string `json:"server"`

	// Path is the mount path of the KV secrets engine.
	// +kubebuilder:default=secret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^/*[A-Za-z0-9_.@=+:~-]+(/[A-Za-z0-9_.@=+:~-]+)*/*$') && !self.matches('(^|/)[.][.]?(/|$)')",message="path must be a Vault mount path: ASCII letters, digits and _.@=+:~- in segments, no '.' or '..' segments"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^/*(sys|auth|identity)(/|$)')",message="path may not be a system backend (sys, auth, identity)"
	// +optional
	Path string `json:"path,omitempty"`

	// Version of the KV engine at Path.
	// +kubebuilder:default=v2
	// +optional
	Version VaultKVVersion `json:"version,omitempty"`

	// Namespace is the Vault Enterprise namespace sent as X-Vault-Namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// CABundle is a PEM bundle of CAs trusted for the Vault server's certificate.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`

	// CAProvider reads the CA bundle from a Secret or ConfigMap key instead.
	// +optional
	CAProvider *CAProvider `json:"caProvider,omitempty"`

	// ClientTLSSecretRef names a kubernetes.io/tls Secret (tls.crt, tls.key)
	// presented as the client certificate to Vault.
	// +optional
	ClientTLSSecretRef *SecretReference `json:"clientTLSSecretRef,omitempty"`

	// Auth selects how the operator logs in. Exactly one method must be set.
	Auth VaultAuth `json:"auth"`
}

// VaultAuth selects one Vault login method.
//
// +kubebuilder:validation:XValidation:rule="[has(self.tokenSecretRef), has(self.appRole), has(self.kubernetes)].filter(x, x).size() == 1",message="exactly one Vault auth method must be set: tokenSecretRef, appRole or kubernetes"
type VaultAuth struct {
	// TokenSecretRef reads a Vault token from a Secret.
	// +optional
	TokenSecretRef *SecretKeySelector `json:"tokenSecretRef,omitempty"`

	// AppRole logs in with a role id and a secret id.
	// +optional
	AppRole *VaultAppRole `json:"appRole,omitempty"`

	// Kubernetes logs in with a ServiceAccount token that Vault verifies
	// through the TokenReview API.
	// +optional
	Kubernetes *VaultKubernetesAuth `json:"kubernetes,omitempty"`
}

// VaultAppRole logs in through Vault's AppRole auth method.
//
// +kubebuilder:validation:XValidation:rule="has(self.roleId) != has(self.roleRef)",message="set exactly one of roleId or roleRef"
type VaultAppRole struct {
	// Path is the mount path of the AppRole auth method.
	// +kubebuilder:default=approle
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^/*[A-Za-z0-9_.@=+:~-]+(/[A-Za-z0-9_.@=+:~-]+)*/*$') && !self.matches('(^|/)[.][.]?(/|$)')",message="appRole.path must be a Vault mount path: ASCII letters, digits and _.@=+:~- in segments, no '.' or '..' segments"
	// +optional
	Path string `json:"path,omitempty"`

	// RoleID is the AppRole role id, inline.
	// +optional
	RoleID string `json:"roleId,omitempty"`

	// RoleRef reads the role id from a Secret.
	// +optional
	RoleRef *SecretKeySelector `json:"roleRef,omitempty"`

	// SecretRef reads the secret id from a Secret.
	SecretRef SecretKeySelector `json:"secretRef"`
}

// VaultKubernetesAuth logs in through Vault's Kubernetes auth method.
type VaultKubernetesAuth struct {
	// MountPath is the mount path of the Kubernetes auth method.
	// +kubebuilder:default=kubernetes
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^/*[A-Za-z0-9_.@=+:~-]+(/[A-Za-z0-9_.@=+:~-]+)*/*$') && !self.matches('(^|/)[.][.]?(/|$)')",message="kubernetes.mountPath must be a Vault mount path: ASCII letters, digits and _.@=+:~- in segments, no '.' or '..' segments"
	// +optional
	MountPath string `json:"mountPath,omitempty"`

	// Role is the Vault role to log in as.
	// +kubebuilder:validation:MinLength=1
	Role string `json:"role"`

	// ServiceAccountRef is the identity to log in as. When empty, the
	// operator's own ServiceAccount token is used.
	// +optional
	ServiceAccountRef *ServiceAccountSelector `json:"serviceAccountRef,omitempty"`
}

// CAProvider points at a CA bundle in a Secret or ConfigMap.
type CAProvider struct {
	// Type of the object holding the bundle.
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	Type string `json:"type"`
	// Name of the Secret or ConfigMap.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Key holding the PEM bundle.
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`
	// Namespace of the object; ClusterSecretStore only.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}
