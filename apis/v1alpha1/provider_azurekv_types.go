package v1alpha1

// AzureAuthType selects how the operator authenticates to Azure.
// +kubebuilder:validation:Enum=ServicePrincipal;ManagedIdentity;WorkloadIdentity
type AzureAuthType string

const (
	// AzureServicePrincipal uses a client id and client secret.
	AzureServicePrincipal AzureAuthType = "ServicePrincipal"
	// AzureManagedIdentity uses the node's or pod's managed identity.
	AzureManagedIdentity AzureAuthType = "ManagedIdentity"
	// AzureWorkloadIdentity exchanges a ServiceAccount token as a client assertion.
	AzureWorkloadIdentity AzureAuthType = "WorkloadIdentity"
)

// AzureEnvironmentType names an Azure cloud.
// +kubebuilder:validation:Enum=PublicCloud;ChinaCloud;USGovernmentCloud;GermanCloud
type AzureEnvironmentType string

// AzureKVProvider configures access to Azure Key Vault secrets.
//
// +kubebuilder:validation:XValidation:rule="self.authType != 'ServicePrincipal' || has(self.authSecretRef)",message="authType ServicePrincipal needs authSecretRef"
// +kubebuilder:validation:XValidation:rule="self.authType != 'WorkloadIdentity' || has(self.serviceAccountRef)",message="authType WorkloadIdentity needs serviceAccountRef"
type AzureKVProvider struct {
	// VaultURL is the vault's URL, for example https://my-vault.vault.azure.net.
	// +kubebuilder:validation:Pattern=`^https://`
	VaultURL string `json:"vaultUrl"`

	// TenantID is the Entra ID tenant. For WorkloadIdentity it may come from
	// the ServiceAccount's azure.workload.identity/tenant-id annotation instead.
	// +optional
	TenantID string `json:"tenantId,omitempty"`

	// EnvironmentType selects the cloud and so the authority host.
	// +kubebuilder:default=PublicCloud
	// +optional
	EnvironmentType AzureEnvironmentType `json:"environmentType,omitempty"`

	// AuthType selects how to authenticate.
	// +kubebuilder:default=ServicePrincipal
	// +optional
	AuthType AzureAuthType `json:"authType,omitempty"`

	// AuthSecretRef holds the service principal's credentials.
	// +optional
	AuthSecretRef *AzureAuthSecretRef `json:"authSecretRef,omitempty"`

	// ServiceAccountRef is the identity used with WorkloadIdentity.
	// +optional
	ServiceAccountRef *ServiceAccountSelector `json:"serviceAccountRef,omitempty"`

	// IdentityID selects a user-assigned managed identity.
	// +optional
	IdentityID string `json:"identityId,omitempty"`
}

// AzureAuthSecretRef points at a service principal's credentials.
// +kubebuilder:validation:XValidation:rule="has(self.clientSecret) != has(self.clientCertificate)",message="set exactly one of clientSecret or clientCertificate"
type AzureAuthSecretRef struct {
	// ClientID holds the application (client) id.
	ClientID SecretKeySelector `json:"clientId"`
	// ClientSecret holds the client secret.
	// +optional
	ClientSecret *SecretKeySelector `json:"clientSecret,omitempty"`
	// ClientCertificate holds a PEM client certificate with its private key,
	// used instead of a client secret.
	// +optional
	ClientCertificate *SecretKeySelector `json:"clientCertificate,omitempty"`
}
