package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterExternalSecretSpec is one ExternalSecret to create in every
// namespace a selector matches.
type ClusterExternalSecretSpec struct {
	// ExternalSecretSpec is the spec of every ExternalSecret created. Each
	// one is checked on its own: a ClusterSecretStore's conditions and
	// allowedKeys apply for the namespace it is in, and a SecretStore is
	// looked up in that namespace.
	ExternalSecretSpec ExternalSecretSpec `json:"externalSecretSpec"`

	// ExternalSecretName is the name of the ExternalSecrets. Defaults to the
	// ClusterExternalSecret's name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="externalSecretName must be a DNS subdomain: lowercase letters, digits, '-' and '.'"
	ExternalSecretName string `json:"externalSecretName,omitempty"`

	// ExternalSecretMetadata are labels and annotations put on every
	// ExternalSecret created.
	// +optional
	ExternalSecretMetadata *ExternalSecretMetadata `json:"externalSecretMetadata,omitempty"`

	// NamespaceSelectors pick the namespaces: a namespace matched by any of
	// them gets an ExternalSecret. Match one namespace by name with the
	// label kubernetes.io/metadata.name.
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors"`

	// RefreshTime is how often the namespaces are listed again, on top of
	// the watch on namespaces that reacts to label changes at once, a Go
	// duration. Defaults to 1m.
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('10s')",message="refreshTime must be a Go duration of at least 10s, like 1m"
	// +optional
	RefreshTime *metav1.Duration `json:"refreshTime,omitempty"`
}

// ExternalSecretMetadata is metadata for created ExternalSecrets.
type ExternalSecretMetadata struct {
	// Labels to set.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations to set.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ClusterExternalSecretNamespaceFailure says why one namespace has no
// ExternalSecret of its own.
type ClusterExternalSecretNamespaceFailure struct {
	// Namespace that failed.
	Namespace string `json:"namespace"`
	// Reason is a stable word: NameConflict or KubernetesAPIError.
	Reason string `json:"reason"`
	// Message says what to do.
	Message string `json:"message"`
}

// ClusterExternalSecretStatus is what was provisioned.
type ClusterExternalSecretStatus struct {
	// ExternalSecretName is the name the ExternalSecrets have.
	// +optional
	ExternalSecretName string `json:"externalSecretName,omitempty"`

	// ProvisionedNamespaces have an ExternalSecret with the current spec.
	// +optional
	// +listType=atomic
	ProvisionedNamespaces []string `json:"provisionedNamespaces,omitempty"`

	// FailedNamespaces are selected but have no ExternalSecret of this
	// ClusterExternalSecret.
	// +optional
	// +listType=atomic
	FailedNamespaces []ClusterExternalSecretNamespaceFailure `json:"failedNamespaces,omitempty"`

	// NotSyncedNamespaces have the ExternalSecret, but it is not Ready (its
	// own status says why: a store that does not admit the namespace, a key
	// outside allowedKeys...).
	// +optional
	// +listType=atomic
	NotSyncedNamespaces []string `json:"notSyncedNamespaces,omitempty"`

	// ObservedGeneration is the generation last provisioned.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready is True when every selected namespace has its
	// ExternalSecret.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ClusterExternalSecret creates, updates and deletes one ExternalSecret in
// each namespace its selectors match. It is cluster-scoped: only cluster
// administrators should be able to create it, since it writes into any
// namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=vfces,categories=vaultferry
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="a ClusterExternalSecret's name is at most 63 characters: it is the value of the label vaultferry.io/cluster-external-secret on its ExternalSecrets"
// +kubebuilder:printcolumn:name="Store",type=string,JSONPath=`.spec.externalSecretSpec.secretStoreRef.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterExternalSecret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the ExternalSecret and where to create it.
	Spec ClusterExternalSecretSpec `json:"spec"`

	// Status is what was provisioned.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status ClusterExternalSecretStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterExternalSecretList is a list of ClusterExternalSecrets.
type ClusterExternalSecretList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the ClusterExternalSecrets.
	Items []ClusterExternalSecret `json:"items"`
}
