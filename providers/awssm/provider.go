// Package awssm is the AWS Secrets Manager provider. It authenticates with
// static keys from a Secret, with a ServiceAccount token exchanged through
// STS AssumeRoleWithWebIdentity (IRSA without mounting anything), or with the
// operator pod's default credential chain, optionally assuming a role.
package awssm

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
)

// DefaultAudience is the audience of ServiceAccount tokens exchanged with STS.
const DefaultAudience = "sts.amazonaws.com"

// tokenLifetime is how long a requested ServiceAccount token is valid.
const tokenLifetime = 15 * time.Minute

// maxSDKAttempts bounds the SDK's own retries; beyond them the controller's backoff takes over.
const maxSDKAttempts = 3

// Option configures a Provider.
type Option func(*Provider)

// WithHTTPClient sets the HTTP client of the SDK clients (tests trust a fake's TLS certificate with it).
func WithHTTPClient(c *http.Client) Option { return func(p *Provider) { p.httpClient = c } }

// Provider serves AWSProvider specs.
type Provider struct {
	httpClient *http.Client
}

var _ providers.Provider = (*Provider)(nil)

// New returns the AWS Secrets Manager provider.
func New(opts ...Option) *Provider {
	p := &Provider{}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name is "aws".
func (*Provider) Name() string { return "aws" }

// Validate checks the aws block without network I/O.
func (*Provider) Validate(store vfv1alpha1.GenericStore) ([]string, error) {
	spec := store.GetSpec().Provider.AWS
	if spec == nil {
		return nil, providers.Errorf(providers.ErrInvalid, "store has no aws provider block")
	}
	if spec.Service != "" && spec.Service != vfv1alpha1.AWSServiceSecretsManager {
		return nil, providers.Errorf(providers.ErrInvalid, "aws: service %q is not supported (only SecretsManager)", spec.Service)
	}
	if spec.Region == "" {
		return nil, providers.Errorf(providers.ErrInvalid, "aws: region is required")
	}
	if spec.Auth != nil && spec.Auth.JWT != nil && spec.Role == "" {
		return nil, providers.Errorf(providers.ErrInvalid, "aws: jwt auth needs role: the IAM role the ServiceAccount token is exchanged for")
	}
	return nil, nil
}

// Secrets Manager's limits: a SecretId (name or ARN) is at most 2048
// characters, a version stage at most 256 of these.
var (
	secretIDPattern = regexp.MustCompile(`^[A-Za-z0-9/_+=.@:,-]+$`)
	stagePattern    = regexp.MustCompile(`^(uuid:)?[A-Za-z0-9_+=.@,:-]{1,256}$`)
)

// NormalizeRef accepts names and ARNs in Secrets Manager's character set, and
// version ids or stages.
func (*Provider) NormalizeRef(ref providers.Ref) (providers.Ref, error) {
	if len(ref.Key) > 2048 || !secretIDPattern.MatchString(ref.Key) {
		return ref, providers.Errorf(providers.ErrInvalid, "aws: key %q is not a Secrets Manager name or ARN (letters, digits and /_+=.@- only)", ref.Key)
	}
	if ref.Version != "" && !stagePattern.MatchString(ref.Version) {
		return ref, providers.Errorf(providers.ErrInvalid, "aws: version %q is not a version id or stage", ref.Version)
	}
	return ref, nil
}

// KeysFoldCase is false: Secrets Manager names are case-sensitive.
func (*Provider) KeysFoldCase() bool { return false }

// NewClient builds one SDK client for the store, with cached credentials.
func (p *Provider) NewClient(ctx context.Context, store vfv1alpha1.GenericStore, kube providers.Kube, namespace string) (providers.Client, error) {
	if _, err := p.Validate(store); err != nil {
		return nil, err
	}
	spec := store.GetSpec().Provider.AWS
	endpoint := func(string) *string { return nil }
	if spec.Endpoint != "" {
		endpoint = func(string) *string { return aws.String(spec.Endpoint) }
	}
	stsEndpoint := func(o *sts.Options) { o.BaseEndpoint = endpoint("sts") }
	cfg := aws.Config{Region: spec.Region, RetryMaxAttempts: maxSDKAttempts, RetryMode: aws.RetryModeStandard}
	var base providers.Doer = awshttp.NewBuildableClient()
	if p.httpClient != nil {
		base = p.httpClient
	}
	cfg.HTTPClient = providers.BoundedDoer{Doer: base}
	switch {
	case spec.Auth == nil:
		// Only a store with no auth block gets the operator pod's own
		// identity: one with explicit credentials must not pick it up.
		own, err := operatorCredentials(cfg, os.Getenv, stsEndpoint)
		if err != nil {
			return nil, providers.Errorf(providers.ErrInvalid, "aws: the operator's own credentials: %v", err)
		}
		cfg.Credentials = own
	case spec.Auth.SecretRef != nil:
		static, err := staticCredentials(ctx, kube, spec.Auth.SecretRef, namespace)
		if err != nil {
			return nil, err
		}
		cfg.Credentials = aws.NewCredentialsCache(static)
	}
	stsClient := sts.NewFromConfig(cfg, stsEndpoint)
	switch {
	case spec.Auth != nil && spec.Auth.JWT != nil:
		sa := spec.Auth.JWT.ServiceAccountRef
		ns := namespace
		if sa.Namespace != "" {
			ns = sa.Namespace
		}
		audiences := sa.Audiences
		if len(audiences) == 0 {
			audiences = []string{DefaultAudience}
		}
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(stsClient, spec.Role,
			tokenRetriever(func(ctx context.Context) (string, error) {
				return kube.ServiceAccountToken(ctx, ns, sa.Name, audiences, tokenLifetime)
			}), func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = "vaultferry-" + ns + "-" + sa.Name }))
	case spec.Role != "":
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, spec.Role,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "vaultferry" }))
	}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = endpoint("secretsmanager")
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, maxSDKAttempts)
	})
	return newClient(sm), nil
}

// tokenRetriever adapts a function to stscreds.IdentityTokenRetriever.
type tokenRetriever func(ctx context.Context) (string, error)

func (f tokenRetriever) GetIdentityToken() ([]byte, error) {
	token, err := f(context.Background())
	return []byte(token), err
}

func staticCredentials(ctx context.Context, kube providers.Kube, ref *vfv1alpha1.AWSSecretRef, namespace string) (aws.CredentialsProvider, error) {
	id, err := providers.ReadSecretKey(ctx, kube, ref.AccessKeyIDSecretRef, namespace)
	if err != nil {
		return nil, fmt.Errorf("aws: access key id: %w", err)
	}
	secret, err := providers.ReadSecretKey(ctx, kube, ref.SecretAccessKeySecretRef, namespace)
	if err != nil {
		return nil, fmt.Errorf("aws: secret access key: %w", err)
	}
	var session []byte
	if ref.SessionTokenSecretRef != nil {
		if session, err = providers.ReadSecretKey(ctx, kube, *ref.SessionTokenSecretRef, namespace); err != nil {
			return nil, fmt.Errorf("aws: session token: %w", err)
		}
	}
	return credentials.NewStaticCredentialsProvider(string(id), string(secret), string(session)), nil
}
