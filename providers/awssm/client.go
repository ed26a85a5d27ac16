package awssm

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/vaultferry/vaultferry/providers"
)

// secretsManagerAPI lists the SDK calls the provider makes.
type secretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error)
}

// rotationTTL is how long a secret's next rotation date is reused before
// DescribeSecret is called again for it.
const rotationTTL = 10 * time.Minute

type client struct {
	sm    secretsManagerAPI
	batch *batcher

	mu        sync.Mutex
	rotations map[string]rotation
}

type rotation struct {
	next    *time.Time
	checked time.Time
}

func newClient(sm secretsManagerAPI) *client {
	return &client{sm: sm, batch: &batcher{sm: sm}, rotations: map[string]rotation{}}
}

// versionIDPattern matches Secrets Manager version ids (UUIDs), so that a
// bare id and a custom staging label can both be written in remoteRef.version.
var versionIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (c *client) GetSecret(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Key)}
	switch id, isID := strings.CutPrefix(ref.Version, "uuid:"); {
	case isID:
		in.VersionId = aws.String(id)
	case versionIDPattern.MatchString(ref.Version):
		in.VersionId = aws.String(ref.Version)
	case ref.Version != "":
		in.VersionStage = aws.String(ref.Version)
	}
	out, batched, err := (*secretsmanager.GetSecretValueOutput)(nil), false, error(nil)
	if in.VersionId == nil && in.VersionStage == nil {
		out, batched, err = c.batch.get(ctx, ref.Key)
	}
	if !batched {
		out, err = c.sm.GetSecretValue(ctx, in)
	}
	if err != nil {
		return providers.Secret{}, classify(err, "reading secret %q", ref.Key)
	}
	s := providers.Secret{Value: out.SecretBinary, Version: aws.ToString(out.VersionId)}
	if out.SecretString != nil {
		s.Value = []byte(*out.SecretString)
	}
	s.ExpiresAt = c.nextRotation(ctx, ref.Key)
	return s, nil
}

// nextRotation returns when the secret is next rotated, if it rotates,
// calling DescribeSecret at most once per rotationTTL per key. Failures are
// not errors: the date only feeds the expiry metric.
func (c *client) nextRotation(ctx context.Context, key string) *time.Time {
	c.mu.Lock()
	cached, ok := c.rotations[key]
	c.mu.Unlock()
	if ok && time.Since(cached.checked) < rotationTTL {
		return cached.next
	}
	out, err := c.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(key)})
	var next *time.Time
	if err == nil && out.NextRotationDate != nil {
		next = out.NextRotationDate
	}
	c.mu.Lock()
	c.rotations[key] = rotation{next: next, checked: time.Now()}
	c.mu.Unlock()
	return next
}

func (c *client) Check(ctx context.Context) error {
	if _, err := c.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1)}); err != nil {
		return classify(err, "listing secrets")
	}
	return nil
}

func (c *client) Close(context.Context) error { return nil }

// classify maps AWS error codes to provider error classes. The message keeps
// AWS's error code and HTTP status only: error bodies can echo request input.
func classify(err error, format string, args ...any) error {
	var apiErr smithy.APIError
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	status := 0
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	// DecryptionFailure, InternalServiceError, 5xx, unknown codes and
	// unreachable endpoints stay Unavailable.
	class := providers.ErrUnavailable
	switch {
	case code == "ResourceNotFoundException":
		class = providers.ErrNotFound
	case code == "AccessDeniedException", code == "UnrecognizedClientException", code == "InvalidClientTokenId",
		code == "SignatureDoesNotMatch", code == "ExpiredTokenException", code == "AccessDenied", status == 401, status == 403:
		class = providers.ErrForbidden
	case code == "ThrottlingException", code == "RequestLimitExceeded", code == "Throttling", status == 429:
		class = providers.ErrThrottled
	case code == "InvalidRequestException", code == "InvalidParameterException", code == "ValidationException":
		class = providers.ErrInvalid
	}
	detail := code
	if detail == "" {
		detail = "request failed"
		var opErr *smithy.OperationError
		if errors.As(err, &opErr) && !errors.As(err, &apiErr) {
			detail = "could not reach Secrets Manager"
		}
	}
	return providers.Errorf(class, "aws: "+format+": %s", append(args, detail)...)
}
