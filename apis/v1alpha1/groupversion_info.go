// Package v1alpha1 contains the vaultferry.io/v1alpha1 API: SecretStore,
// ClusterSecretStore and ExternalSecret.
//
// +kubebuilder:object:generate=true
// +groupName=vaultferry.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "vaultferry.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&SecretStore{}, &SecretStoreList{},
		&ClusterSecretStore{}, &ClusterSecretStoreList{},
		&ExternalSecret{}, &ExternalSecretList{},
		&ClusterExternalSecret{}, &ClusterExternalSecretList{},
		&TargetIndex{}, &TargetIndexList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
