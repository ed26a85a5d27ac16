package awssm

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/vaultferry/vaultferry/providers"
)

// FindSecrets lists secret names with ListSecrets (filtered on the server
// by name prefix and tag keys, then exactly here, as the server's filters
// match prefixes), then reads the values req.Keep keeps with
// BatchGetSecretValue, 20 per call. Rotation dates come with the listing,
// so a find makes no DescribeSecret call.
func (c *client) FindSecrets(ctx context.Context, req providers.FindRequest) (map[string]providers.Secret, error) {
	in := &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(100), Filters: listFilters(req)}
	found := req.NewCollector()
	rotations := map[string]*time.Time{}
	pages := secretsmanager.NewListSecretsPaginator(c.sm, in)
	for pages.HasMorePages() {
		if err := req.Call(ctx); err != nil {
			return nil, err
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "listing secrets under %q", req.Path)
		}
		for _, entry := range page.SecretList {
			if err := found.Listed(); err != nil {
				return nil, err
			}
			name := aws.ToString(entry.Name)
			if !strings.HasPrefix(name, req.Path) || !providers.HasTags(tagMap(entry.Tags), req.Tags) || entry.DeletedDate != nil {
				continue
			}
			rotations[name] = entry.NextRotationDate
			if err := found.Add(name); err != nil {
				return nil, err
			}
		}
	}
	keys := found.Keys()
	c.rememberRotations(rotations, keys)
	out := make(map[string]providers.Secret, len(keys))
	for start := 0; start < len(keys); start += batchMax {
		if err := c.readBatch(ctx, req, keys[start:min(start+batchMax, len(keys))], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listFilters narrows the listing on the server: by name prefix and by tag
// key (values are compared here: a tag-value filter is not tied to its key).
func listFilters(req providers.FindRequest) []types.Filter {
	var filters []types.Filter
	if req.Path != "" {
		filters = append(filters, types.Filter{Key: types.FilterNameStringTypeName, Values: []string{req.Path}})
	}
	for key := range req.Tags {
		filters = append(filters, types.Filter{Key: types.FilterNameStringTypeTagKey, Values: []string{key}})
	}
	return filters
}

func tagMap(tags []types.Tag) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// readBatch reads up to 20 latest values in one BatchGetSecretValue call,
// or one by one where the caller may not batch. A secret deleted since the
// listing is left out.
func (c *client) readBatch(ctx context.Context, req providers.FindRequest, keys []string, out map[string]providers.Secret) error {
	if !c.batch.unsupported.Load() {
		if err := req.Call(ctx); err != nil {
			return err
		}
		res, err := c.sm.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: keys})
		switch {
		case err == nil:
			return c.batchAnswers(res, out)
		case errors.Is(classify(err, "batch"), providers.ErrForbidden):
			c.batch.unsupported.Store(true)
		default:
			return classify(err, "reading %d found secrets", len(keys))
		}
	}
	found, err := providers.ReadEach(ctx, req, keys, func(ctx context.Context, key string) (providers.Secret, error) {
		return c.GetSecret(ctx, providers.Ref{Key: key})
	})
	for k, v := range found {
		out[k] = v
	}
	return err
}

func (c *client) batchAnswers(res *secretsmanager.BatchGetSecretValueOutput, out map[string]providers.Secret) error {
	for _, e := range res.Errors {
		if code := aws.ToString(e.ErrorCode); code != "ResourceNotFoundException" {
			return classify(&smithy.GenericAPIError{Code: code, Message: "in BatchGetSecretValue"}, "reading found secret %q", aws.ToString(e.SecretId))
		}
	}
	for _, v := range res.SecretValues {
		name := aws.ToString(v.Name)
		s := providers.Secret{Value: v.SecretBinary, Version: aws.ToString(v.VersionId), ExpiresAt: c.cachedRotation(name)}
		if v.SecretString != nil {
			s.Value = []byte(*v.SecretString)
		}
		out[name] = s
	}
	return nil
}

// rememberRotations records the rotation dates a listing returned for the
// found keys, as DescribeSecret would have.
func (c *client) rememberRotations(next map[string]*time.Time, keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, key := range keys {
		c.rotations[key] = rotation{next: next[key], checked: time.Now()}
	}
}

func (c *client) cachedRotation(key string) *time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rotations[key].next
}
