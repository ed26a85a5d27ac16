package v1alpha1

import (
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GenericStore is what SecretStore and ClusterSecretStore have in common, so
// that providers and controllers handle both with one code path.
// +kubebuilder:object:generate=false
type GenericStore interface {
	client.Object
	// GetKind is SecretStoreKind or ClusterSecretStoreKind.
	GetKind() string
	// GetSpec returns the shared spec.
	GetSpec() *SecretStoreSpec
	// GetStatus returns the shared status, for writing.
	GetStatus() *SecretStoreStatus
}

const (
	// SecretStoreKind is the kind of a namespaced store.
	SecretStoreKind = "SecretStore"
	// ClusterSecretStoreKind is the kind of a cluster-scoped store.
	ClusterSecretStoreKind = "ClusterSecretStore"
)

var (
	_ GenericStore = &SecretStore{}
	_ GenericStore = &ClusterSecretStore{}
)

// GetKind returns SecretStoreKind.
func (*SecretStore) GetKind() string { return SecretStoreKind }

// GetSpec returns the store's spec.
func (s *SecretStore) GetSpec() *SecretStoreSpec { return &s.Spec }

// GetStatus returns the store's status.
func (s *SecretStore) GetStatus() *SecretStoreStatus { return &s.Status }

// GetKind returns ClusterSecretStoreKind.
func (*ClusterSecretStore) GetKind() string { return ClusterSecretStoreKind }

// GetSpec returns the store's spec.
func (s *ClusterSecretStore) GetSpec() *SecretStoreSpec { return &s.Spec }

// GetStatus returns the store's status.
func (s *ClusterSecretStore) GetStatus() *SecretStoreStatus { return &s.Status }
