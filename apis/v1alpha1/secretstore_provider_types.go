package v1alpha1

// SecretStoreProvider selects the backend a store reads from. Exactly one
// field must be set.
//
// +kubebuilder:validation:XValidation:rule="[has(self.vault), has(self.aws), has(self.azurekv), has(self.fake)].filter(x, x).size() == 1",message="exactly one provider must be set: vault, aws, azurekv or fake"
type SecretStoreProvider struct {
	// Vault reads from a HashiCorp Vault KV secrets engine.
	// +optional
	Vault *VaultProvider `json:"vault,omitempty"`

	// AWS reads from AWS Secrets Manager.
	// +optional
	AWS *AWSProvider `json:"aws,omitempty"`

	// AzureKV reads from Azure Key Vault secrets.
	// +optional
	AzureKV *AzureKVProvider `json:"azurekv,omitempty"`

	// Fake serves the data written in this spec. It exists for demos and tests;
	// never use it for real secrets, as anyone who can read the store sees them.
	// +optional
	Fake *FakeProvider `json:"fake,omitempty"`
}

// FakeProvider serves secrets written inline in the store spec.
type FakeProvider struct {
	// Data is the set of remote secrets this store serves.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	Data []FakeProviderData `json:"data,omitempty"`

	// AuthSecretRef, when set together with Token, makes the store check a
	// credential like a real provider would: the referenced key must hold
	// Token, or every read is refused as Forbidden. Lets demos and tests
	// exercise credential failures.
	// +optional
	AuthSecretRef *SecretKeySelector `json:"authSecretRef,omitempty"`

	// Token is the credential AuthSecretRef must contain.
	// +optional
	Token string `json:"token,omitempty"`
}

// FakeProviderData is one version of one remote secret served by the fake provider.
type FakeProviderData struct {
	// Key is the remote key ExternalSecrets ask for.
	// +kubebuilder:validation:MinLength=1
	Key string `json:"key"`

	// Value is the secret value. A JSON object can be read by property.
	Value string `json:"value"`

	// Version identifies this value. When several entries share a key, an
	// unpinned read returns the last one listed.
	// +optional
	Version string `json:"version,omitempty"`

	// Tags are matched by dataFrom.find.tags.
	// +optional
	Tags map[string]string `json:"tags,omitempty"`
}
