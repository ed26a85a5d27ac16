package v1alpha1

// AWSService names the AWS service a store reads from.
// +kubebuilder:validation:Enum=SecretsManager
type AWSService string

// AWSServiceSecretsManager is AWS Secrets Manager.
const AWSServiceSecretsManager AWSService = "SecretsManager"

// AWSProvider configures access to AWS Secrets Manager.
type AWSProvider struct {
	// Service is the AWS service to read from.
	// +kubebuilder:default=SecretsManager
	// +optional
	Service AWSService `json:"service,omitempty"`

	// Region of the secrets, for example eu-west-1.
	// +kubebuilder:validation:Pattern=`^[a-z]{2}(-[a-z]+)+-[0-9]+$`
	Region string `json:"region"`

	// Role is an IAM role ARN assumed through STS after authenticating.
	// +optional
	// +kubebuilder:validation:Pattern=`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`
	Role string `json:"role,omitempty"`

	// Endpoint overrides the Secrets Manager endpoint, for VPC endpoints.
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://`
	Endpoint string `json:"endpoint,omitempty"`

	// Auth selects the credentials. When empty, the default credential chain
	// of the operator's own pod is used.
	// +optional
	Auth *AWSAuth `json:"auth,omitempty"`
}

// AWSAuth selects one way to obtain AWS credentials.
//
// +kubebuilder:validation:XValidation:rule="[has(self.secretRef), has(self.jwt)].filter(x, x).size() == 1",message="exactly one AWS auth method must be set: secretRef or jwt"
type AWSAuth struct {
	// SecretRef reads static access keys from Secrets.
	// +optional
	SecretRef *AWSSecretRef `json:"secretRef,omitempty"`

	// JWT exchanges a ServiceAccount token for credentials with
	// AssumeRoleWithWebIdentity (the IRSA way, without mounting anything).
	// +optional
	JWT *AWSJWTAuth `json:"jwt,omitempty"`
}

// AWSSecretRef points at static AWS access keys.
type AWSSecretRef struct {
	// AccessKeyIDSecretRef holds the access key id.
	AccessKeyIDSecretRef SecretKeySelector `json:"accessKeyIDSecretRef"`
	// SecretAccessKeySecretRef holds the secret access key.
	SecretAccessKeySecretRef SecretKeySelector `json:"secretAccessKeySecretRef"`
	// SessionTokenSecretRef holds a session token, for temporary credentials.
	// +optional
	SessionTokenSecretRef *SecretKeySelector `json:"sessionTokenSecretRef,omitempty"`
}

// AWSJWTAuth authenticates with a ServiceAccount's identity.
type AWSJWTAuth struct {
	// ServiceAccountRef is the identity whose token is exchanged.
	ServiceAccountRef ServiceAccountSelector `json:"serviceAccountRef"`
}
