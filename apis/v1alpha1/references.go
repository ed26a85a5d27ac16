package v1alpha1

// SecretKeySelector names one key of a Kubernetes Secret that holds a credential.
//
// Inside a SecretStore the Secret is always read from the store's own
// namespace and namespace must be left empty. Inside a ClusterSecretStore
// namespace is required, and the operator may restrict which namespace that
// can be (see the --cluster-store-credentials-namespace flag).
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key inside the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`

	// Namespace of the Secret. Only allowed, and then required, in a ClusterSecretStore.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// ServiceAccountSelector names a ServiceAccount whose identity is used to
// authenticate to a provider. The operator requests a short-lived token for it
// with the TokenRequest API; nothing is mounted.
//
// Inside a SecretStore the ServiceAccount lives in the store's namespace and
// namespace must be left empty. Inside a ClusterSecretStore an empty namespace
// means "the namespace of the ExternalSecret being synced", so that every
// tenant authenticates as itself.
type ServiceAccountSelector struct {
	// Name of the ServiceAccount.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the ServiceAccount. Only allowed in a ClusterSecretStore.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// Audiences requested for the token. Defaults depend on the provider.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Audiences []string `json:"audiences,omitempty"`
}

// SecretReference names a whole Secret.
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Namespace of the Secret; ClusterSecretStore only.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}
