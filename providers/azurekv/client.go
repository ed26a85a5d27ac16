package azurekv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/vaultferry/vaultferry/providers"
)

type kvClient struct {
	kv *azsecrets.Client
}

func (c *kvClient) GetSecret(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	name := secretName(ref.Key)
	resp, err := c.kv.GetSecret(ctx, name, ref.Version, nil)
	if err != nil {
		return providers.Secret{}, classify(err, name)
	}
	s := providers.Secret{}
	if resp.Value != nil {
		s.Value = []byte(*resp.Value)
	}
	if resp.ID != nil {
		s.Version = resp.ID.Version()
	}
	if a := resp.Attributes; a != nil {
		if a.Enabled != nil && !*a.Enabled {
			return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "azurekv: secret %q is disabled: enable it in Key Vault or pin an enabled version", name)
		}
		if a.Expires != nil {
			if a.Expires.Before(time.Now()) {
				return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "azurekv: secret %q expired at %s: set a new version in Key Vault", name, a.Expires.UTC().Format(time.RFC3339))
			}
			s.ExpiresAt = a.Expires
		}
	}
	return s, nil
}

// FindSecrets pages through the vault's secret properties (names, tags and
// attributes, never values), keeps enabled secrets whose name starts with
// req.Path (regardless of case, as Key Vault compares names) and that carry req.Tags, then reads the values of those req.Keep keeps.
func (c *kvClient) FindSecrets(ctx context.Context, req providers.FindRequest) (map[string]providers.Secret, error) {
	found := req.NewCollector()
	pager := c.kv.NewListSecretPropertiesPager(&azsecrets.ListSecretPropertiesOptions{})
	for pager.More() {
		if err := req.Call(ctx); err != nil {
			return nil, err
		}
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "")
		}
		for _, item := range page.Value {
			if err := found.Listed(); err != nil {
				return nil, err
			}
			if item.ID == nil || (item.Attributes != nil && item.Attributes.Enabled != nil && !*item.Attributes.Enabled) {
				continue
			}
			name := item.ID.Name()
			tags := map[string]string{}
			for k, v := range item.Tags {
				if v != nil {
					tags[k] = *v
				}
			}
			if !strings.HasPrefix(strings.ToLower(name), strings.ToLower(secretName(req.Path))) || !providers.HasTags(tags, req.Tags) {
				continue
			}
			if err := found.Add(name); err != nil {
				return nil, err
			}
		}
	}
	return providers.ReadEach(ctx, req, found.Keys(), func(ctx context.Context, key string) (providers.Secret, error) {
		return c.GetSecret(ctx, providers.Ref{Key: key})
	})
}

// Check lists one page of secret properties: it proves the credential and the vault's access policy.
func (c *kvClient) Check(ctx context.Context) error {
	pager := c.kv.NewListSecretPropertiesPager(&azsecrets.ListSecretPropertiesOptions{})
	if _, err := pager.NextPage(ctx); err != nil {
		return classify(err, "")
	}
	return nil
}

func (c *kvClient) Close(context.Context) error { return nil }

// classify maps Key Vault and Entra errors to provider error classes by HTTP
// status and Key Vault error code; messages never include response bodies,
// which can echo input.
func classify(err error, name string) error {
	var respErr *azcore.ResponseError
	if errors.As(err, &respErr) {
		code := respErr.ErrorCode
		if inner := innerErrorCode(respErr); inner != "" {
			code = inner
		}
		switch {
		case code == "SecretDisabled":
			return providers.Errorf(providers.ErrNotFound, "azurekv: secret %q is disabled: enable it in Key Vault or pin an enabled version", name)
		case respErr.StatusCode == http.StatusNotFound:
			return providers.Errorf(providers.ErrNotFound, "azurekv: secret %q not found (%s)", name, code)
		case respErr.StatusCode == http.StatusUnauthorized, respErr.StatusCode == http.StatusForbidden:
			return providers.Errorf(providers.ErrForbidden, "azurekv: access to %q refused (%d %s)", name, respErr.StatusCode, code)
		case respErr.StatusCode == http.StatusTooManyRequests:
			return providers.Errorf(providers.ErrThrottled, "azurekv: throttled reading %q (%s)", name, code)
		case respErr.StatusCode == http.StatusBadRequest:
			return providers.Errorf(providers.ErrInvalid, "azurekv: request for %q refused (%s)", name, code)
		default:
			return providers.Errorf(providers.ErrUnavailable, "azurekv: reading %q: HTTP %d %s", name, respErr.StatusCode, code)
		}
	}
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		return providers.Errorf(providers.ErrForbidden, "azurekv: authentication failed")
	}
	return providers.Errorf(providers.ErrUnavailable, "azurekv: reading %q: could not reach Key Vault", name)
}

// innerErrorCode reads error.innererror.code from a Key Vault error body.
func innerErrorCode(respErr *azcore.ResponseError) string {
	if respErr.RawResponse == nil || respErr.RawResponse.Body == nil {
		return ""
	}
	body, err := io.ReadAll(respErr.RawResponse.Body)
	if err != nil {
		return ""
	}
	var parsed struct {
		Error struct {
			InnerError struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &parsed) != nil {
		return ""
	}
	return parsed.Error.InnerError.Code
}
