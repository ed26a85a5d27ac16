package awssm

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The environment variables of the SDK's default chain that a pod on
// Kubernetes is given (by hand, by EKS IRSA, by EKS Pod Identity or ECS).
const (
	envAccessKeyID        = "AWS_ACCESS_KEY_ID"
	envSecretAccessKey    = "AWS_SECRET_ACCESS_KEY"
	envSessionToken       = "AWS_SESSION_TOKEN"
	envWebIdentityToken   = "AWS_WEB_IDENTITY_TOKEN_FILE"
	envRoleARN            = "AWS_ROLE_ARN"
	envRoleSessionName    = "AWS_ROLE_SESSION_NAME"
	envContainerRelative  = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
	envContainerFull      = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	envContainerToken     = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	envContainerTokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"

	// ecsCredentialsHost serves AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
	ecsCredentialsHost = "http://169.254.170.2"
)

// containerCredentialHosts are the link-local addresses of the ECS and EKS
// Pod Identity agents: the only non-loopback hosts a plain-HTTP
// AWS_CONTAINER_CREDENTIALS_FULL_URI may name, as in the SDK's chain.
var containerCredentialHosts = map[string]bool{"169.254.170.2": true, "169.254.170.23": true, "fd00:ec2::23": true}

// operatorCredentials is the operator pod's own AWS identity, for a store
// without an auth block. It follows the SDK's default chain in its order
// over the sources a pod has: access keys in the environment, a web
// identity token (EKS IRSA), the container credentials endpoint (EKS Pod
// Identity, ECS), else the node's instance profile through IMDS.
//
// Shared config and credentials files, SSO and credential processes are
// left out: they serve people at a workstation, not pods, and their SDK
// packages were a sixth of the binary's AWS code and ~2.5 MiB of the
// operator's resident memory whether or not any store used AWS.
func operatorCredentials(cfg aws.Config, getenv func(string) string, stsOptions ...func(*sts.Options)) (aws.CredentialsProvider, error) {
	if id, secret := getenv(envAccessKeyID), getenv(envSecretAccessKey); id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, getenv(envSessionToken)), nil
	}
	if tokenFile := getenv(envWebIdentityToken); tokenFile != "" {
		role := getenv(envRoleARN)
		if role == "" {
			return nil, fmt.Errorf("%s is set but %s is not", envWebIdentityToken, envRoleARN)
		}
		return aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(sts.NewFromConfig(cfg, stsOptions...), role, stscreds.IdentityTokenFile(tokenFile),
			func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = getenv(envRoleSessionName) })), nil
	}
	if endpoint, err := containerCredentialsEndpoint(getenv); endpoint != "" || err != nil {
		if err != nil {
			return nil, err
		}
		return aws.NewCredentialsCache(endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
			o.HTTPClient = cfg.HTTPClient
			o.AuthorizationToken = getenv(envContainerToken)
			if file := getenv(envContainerTokenFile); file != "" {
				// Read on every refresh: the agent's token is rotated in place.
				o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
					token, err := os.ReadFile(file)
					return string(token), err
				})
			}
		}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute }), nil
	}
	// IMDS reads AWS_EC2_METADATA_DISABLED and AWS_EC2_METADATA_SERVICE_ENDPOINT itself.
	return aws.NewCredentialsCache(ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = imds.NewFromConfig(cfg) })), nil
}

// containerCredentialsEndpoint is the container credentials URL from the
// environment ("" when none is set). A plain-HTTP full URI must name a
// loopback or agent address: anything else would send the authorization
// token, and trust credentials, over the network in the clear.
func containerCredentialsEndpoint(getenv func(string) string) (string, error) {
	if relative := getenv(envContainerRelative); relative != "" {
		return ecsCredentialsHost + relative, nil
	}
	full := getenv(envContainerFull)
	if full == "" {
		return "", nil
	}
	u, err := url.Parse(full)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("%s is not a URL with a host", envContainerFull)
	}
	if u.Scheme == "https" {
		return full, nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() || containerCredentialHosts[u.Hostname()]) {
		return full, nil
	}
	return "", fmt.Errorf("%s %q: plain HTTP is only allowed to a loopback address or the ECS/EKS agent (169.254.170.2, 169.254.170.23, fd00:ec2::23)", envContainerFull, full)
}
