package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TargetIndexName is the name of the one TargetIndex of a namespace.
const TargetIndexName = "vaultferry"

// TargetIndex lists, for one namespace, the immutable targets of its
// ExternalSecrets and their versions. The operator writes it (one per
// namespace, named vaultferry); the stable-reference admission policies read
// it as their parameter, once per Pod, to resolve a reference to a target
// name into a version. Tenants read it; nobody but the operator writes it.
// It is flat maps of strings because the API server copies the parameter
// for every Pod it admits: this shape costs a fifth of a structured one.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,path=targetindexes,categories=vaultferry
// +kubebuilder:printcolumn:name="Targets",type=integer,JSONPath=`.targetCount`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TargetIndex struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Targets maps each immutable target name of the namespace to its
	// current version, which Pods naming the target get; "" until the first
	// version. A target whose name is held by a Secret vaultferry did not
	// write (see ExternalSecret status.shadowedSecret) is left out until its
	// first version, so Pods keep using that Secret.
	// +optional
	Targets map[string]string `json:"targets,omitempty"`

	// Versions maps each target with a version to all its kept versions,
	// space-separated: a Pod whose pin annotation names one of them gets it.
	// +optional
	Versions map[string]string `json:"versions,omitempty"`

	// Pending says, for each target without a version, which ExternalSecret
	// writes it and why it has not synced, for the message of a refused Pod.
	// +optional
	Pending map[string]string `json:"pending,omitempty"`

	// PinAnnotations names the pin annotation of each target whose name is
	// too long for vaultferry.io/version.<target> (others use that one).
	// +optional
	PinAnnotations map[string]string `json:"pinAnnotations,omitempty"`

	// TargetCount is the number of targets, for kubectl get.
	// +optional
	TargetCount int `json:"targetCount,omitempty"`
}

// TargetIndexList is a list of TargetIndexes.
// +kubebuilder:object:root=true
type TargetIndexList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the TargetIndexes.
	Items []TargetIndex `json:"items"`
}
