package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
)

const (
	// requestTimeout bounds one request to Vault.
	requestTimeout = 10 * time.Second
	// tokenLifetime is the lifetime asked for Kubernetes auth JWTs.
	tokenLifetime = 10 * time.Minute
	// renewBefore is how long before expiry a token is renewed.
	renewBefore = 30 * time.Second
	// expiresAtMetadata is the custom_metadata key read as the secret's expiry (RFC 3339).
	expiresAtMetadata = "expires_at"
)

type client struct {
	api   *vaultapi.Client
	spec  *vfv1alpha1.VaultProvider
	login func(ctx context.Context, api *vaultapi.Client) (*vaultapi.Secret, string, error)

	mu        sync.Mutex
	expiresAt time.Time // zero: a static token, never renewed
	renewable bool
	issued    bool // the token came from a login and is revoked on Close
	closed    bool
}

// relogin obtains a new token.
func (c *client) relogin(ctx context.Context) error {
	secret, token, err := c.login(ctx, c.api)
	if err != nil {
		return classify(err, "logging in", c.spec.Server)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if secret != nil && secret.Auth != nil {
		token = secret.Auth.ClientToken
		c.issued = true
		c.renewable = secret.Auth.Renewable
		c.expiresAt = time.Time{}
		if secret.Auth.LeaseDuration > 0 {
			c.expiresAt = time.Now().Add(time.Duration(secret.Auth.LeaseDuration) * time.Second)
		}
	}
	if token == "" {
		return providers.Errorf(providers.ErrForbidden, "vault: login returned no token")
	}
	c.api.SetToken(token)
	return nil
}

// ensureToken renews a token close to expiry while renewable, and logs in
// again when it cannot be renewed.
func (c *client) ensureToken(ctx context.Context) error {
	c.mu.Lock()
	due := !c.expiresAt.IsZero() && time.Until(c.expiresAt) < renewBefore
	renewable := c.renewable
	c.mu.Unlock()
	if !due {
		return nil
	}
	if renewable {
		if s, err := c.api.Auth().Token().RenewSelfWithContext(ctx, 0); err == nil && s != nil && s.Auth != nil {
			c.mu.Lock()
			c.expiresAt = time.Now().Add(time.Duration(s.Auth.LeaseDuration) * time.Second)
			c.renewable = s.Auth.Renewable
			c.mu.Unlock()
			return nil
		}
	}
	return c.relogin(ctx)
}

// do runs a request. A 403 with a token Vault no longer knows (revoked,
// expired) triggers one re-login and one retry, not a loop; a 403 from a
// policy is returned as it is, without a login.
func (c *client) do(ctx context.Context, what string, call func() (*vaultapi.Secret, error)) (*vaultapi.Secret, error) {
	if err := c.ensureToken(ctx); err != nil {
		return nil, err
	}
	s, err := call()
	if statusOf(err) == http.StatusForbidden && c.canRelogin() && c.tokenRevoked(ctx) {
		if lerr := c.relogin(ctx); lerr != nil {
			return nil, lerr
		}
		s, err = call()
	}
	if err != nil {
		return nil, classify(err, what, c.spec.Server)
	}
	return s, nil
}

// tokenRevoked asks Vault whether the current token is still valid.
func (c *client) tokenRevoked(ctx context.Context) bool {
	_, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
	return statusOf(err) == http.StatusForbidden
}

func (c *client) canRelogin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.issued
}

func (c *client) mount() string { return orDefault(c.spec.Path, "secret") }

func (c *client) kvV2() bool { return c.spec.Version != vfv1alpha1.VaultKVv1 }

func (c *client) GetSecret(ctx context.Context, ref providers.Ref) (providers.Secret, error) {
	key := strings.Trim(ref.Key, "/")
	if !c.kvV2() {
		if ref.Version != "" {
			return providers.Secret{}, providers.Errorf(providers.ErrInvalid, "vault: KV v1 has no versions; remove version from %q", key)
		}
		s, err := c.do(ctx, fmt.Sprintf("reading %q", key), func() (*vaultapi.Secret, error) {
			return c.api.Logical().ReadWithContext(ctx, c.mount()+"/"+key)
		})
		if err != nil {
			return providers.Secret{}, err
		}
		if s == nil || s.Data == nil {
			return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "vault: %q not found", key)
		}
		return encode(s.Data, "", nil)
	}
	params := map[string][]string{}
	if ref.Version != "" {
		if _, err := strconv.Atoi(ref.Version); err != nil {
			return providers.Secret{}, providers.Errorf(providers.ErrInvalid, "vault: KV v2 version of %q must be a number", key)
		}
		params["version"] = []string{ref.Version}
	}
	s, err := c.do(ctx, fmt.Sprintf("reading %q", key), func() (*vaultapi.Secret, error) {
		return c.api.Logical().ReadWithDataWithContext(ctx, c.mount()+"/data/"+key, params)
	})
	if err != nil {
		return providers.Secret{}, err
	}
	if s == nil || s.Data == nil {
		return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "vault: %q not found", key)
	}
	meta, _ := s.Data["metadata"].(map[string]any)
	version := ""
	if meta != nil {
		version = fmt.Sprint(meta["version"])
		if n, ok := meta["version"].(json.Number); ok {
			version = n.String()
		}
		if destroyed, _ := meta["destroyed"].(bool); destroyed {
			return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "vault: version %s of %q was destroyed", version, key)
		}
		if deleted, _ := meta["deletion_time"].(string); deleted != "" {
			return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "vault: version %s of %q was deleted", version, key)
		}
	}
	data, _ := s.Data["data"].(map[string]any)
	if data == nil {
		return providers.Secret{}, providers.Errorf(providers.ErrNotFound, "vault: %q has no data at version %s (deleted?)", key, version)
	}
	return encode(data, version, expiryOf(meta))
}

// encode returns a KV secret's data as a JSON object, so that property
// extraction and dataFrom work the same for every provider.
func encode(data map[string]any, version string, expires *time.Time) (providers.Secret, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return providers.Secret{}, providers.Errorf(providers.ErrInvalid, "vault: secret data cannot be encoded")
	}
	return providers.Secret{Value: b, Version: version, ExpiresAt: expires}, nil
}

func expiryOf(meta map[string]any) *time.Time {
	custom, _ := meta["custom_metadata"].(map[string]any)
	raw, _ := custom[expiresAtMetadata].(string)
	if raw == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return nil
	}
	return &t
}

func (c *client) Check(ctx context.Context) error {
	_, err := c.do(ctx, "looking up the token", func() (*vaultapi.Secret, error) {
		return c.api.Auth().Token().LookupSelfWithContext(ctx)
	})
	return err
}

// Close revokes a token obtained by login; a static token is left alone.
func (c *client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	issued := c.issued
	c.mu.Unlock()
	if issued {
		_ = c.api.Auth().Token().RevokeSelfWithContext(ctx, "")
	}
	return nil
}

func statusOf(err error) int {
	var respErr *vaultapi.ResponseError
	if errors.As(err, &respErr) {
		return respErr.StatusCode
	}
	return 0
}

// classify maps Vault errors to provider error classes. Vault's error
// messages are kept out: they can echo request data.
func classify(err error, what, server string) error {
	if providers.Classify(err) != providers.ClassOther {
		return err // already classified, e.g. a credential Secret that is missing
	}
	var refusal *refusedError
	if errors.As(err, &refusal) {
		return providers.Errorf(providers.ErrForbidden, "%s", refusal.msg)
	}
	if errors.Is(err, providers.ErrResponseTooLarge) {
		return providers.Errorf(providers.ErrInvalid, "vault: %s: %v", what, providers.ErrResponseTooLarge)
	}
	status := statusOf(err)
	var respErr *vaultapi.ResponseError
	sealed := errors.As(err, &respErr) && strings.Contains(strings.Join(respErr.Errors, " "), "sealed")
	switch {
	case sealed:
		return providers.Errorf(providers.ErrUnavailable, "vault: %s: Vault is sealed", what)
	case status == http.StatusNotFound:
		return providers.Errorf(providers.ErrNotFound, "vault: %s: not found", what)
	case status == http.StatusForbidden, status == http.StatusUnauthorized:
		return providers.Errorf(providers.ErrForbidden, "vault: %s: permission denied", what)
	case status == http.StatusTooManyRequests, status == http.StatusPreconditionFailed:
		return providers.Errorf(providers.ErrThrottled, "vault: %s: HTTP %d", what, status)
	case status == http.StatusBadRequest:
		return providers.Errorf(providers.ErrInvalid, "vault: %s: bad request", what)
	case status >= 500:
		return providers.Errorf(providers.ErrUnavailable, "vault: %s: HTTP %d", what, status)
	default:
		return providers.Errorf(providers.ErrUnavailable, "vault: %s: could not reach Vault at %s: %s", what, server, unreachable(err))
	}
}

// unreachable says why a request got no answer, in words an admin can act
// on: the name, the port, the certificate, or the time it took. It names
// no more than the class of the failure (the details are the network
// library's, and stay in the operator's debug log).
func unreachable(err error) string {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the name %s does not resolve (DNS); check spec.provider.vault.server", dnsErr.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens on that address and port"
	case errors.As(err, &unknownCA):
		return "TLS: its certificate is signed by an authority the operator does not trust; set caBundle or caProvider"
	case errors.As(err, &hostname):
		return "TLS: its certificate is not valid for that host name; use the name the certificate was issued for"
	case errors.As(err, &invalid):
		return "TLS: its certificate is not valid (expired, or not for serving)"
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"): // net/http unwraps the TLS error into this text
		return "TLS: the server does not speak TLS; use http:// or the TLS port"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out: no answer (a firewall, a NetworkPolicy on the operator's egress, or an overloaded Vault)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed before an answer (a proxy or a TLS mismatch)"
	default:
		return "a network error"
	}
}

// FindSecrets walks the folder req.Path with LIST (KV v2 lists metadata/),
// keeps the keys req.Keep keeps and, with tags, whose custom_metadata holds
// them (one metadata read per kept key; KV v1 has no metadata), then reads
// the values.
func (c *client) FindSecrets(ctx context.Context, req providers.FindRequest) (map[string]providers.Secret, error) {
	if len(req.Tags) > 0 && !c.kvV2() {
		return nil, providers.Errorf(providers.ErrInvalid, "vault: find.tags matches custom_metadata, which KV v1 does not have")
	}
	found := req.NewCollector()
	var folders []string
	if root := strings.Trim(req.Path, "/"); req.MayDescend(root) {
		folders = append(folders, root)
	}
	for len(folders) > 0 {
		folder := folders[0]
		folders = folders[1:]
		entries, err := c.list(ctx, req, folder)
		if err != nil {
			return nil, err
		}
		for _, entry := range entries {
			if err := found.Listed(); err != nil {
				return nil, err
			}
			key := strings.TrimPrefix(folder+"/"+entry, "/")
			if strings.HasSuffix(entry, "/") {
				if sub := strings.TrimSuffix(key, "/"); req.MayDescend(sub) {
					folders = append(folders, sub)
				}
				continue
			}
			if err := found.Add(key); err != nil {
				return nil, err
			}
		}
	}
	keys := found.Keys()
	if len(req.Tags) > 0 {
		tagged, err := providers.ReadEach(ctx, req, keys, c.customMetadata)
		if err != nil {
			return nil, err
		}
		keys = keys[:0]
		for key, tags := range tagged {
			if providers.HasTags(tags, req.Tags) {
				keys = append(keys, key)
			}
		}
	}
	return providers.ReadEach(ctx, req, keys, func(ctx context.Context, key string) (providers.Secret, error) {
		return c.GetSecret(ctx, providers.Ref{Key: key})
	})
}

// list returns the entries of one folder; folders end in "/". A folder
// that does not exist is empty.
func (c *client) list(ctx context.Context, req providers.FindRequest, folder string) ([]string, error) {
	if err := req.Call(ctx); err != nil {
		return nil, err
	}
	path := c.mount() + "/" + folder
	if c.kvV2() {
		path = c.mount() + "/metadata/" + folder
	}
	// Only the path the tenant wrote is named: a subfolder may hold other tenants' keys.
	s, err := c.do(ctx, fmt.Sprintf("listing under %q", req.Path), func() (*vaultapi.Secret, error) {
		return c.api.Logical().ListWithContext(ctx, path)
	})
	if err != nil || s == nil {
		return nil, err
	}
	raw, _ := s.Data["keys"].([]any)
	entries := make([]string, 0, len(raw))
	for _, k := range raw {
		if name, ok := k.(string); ok && name != "" {
			entries = append(entries, name)
		}
	}
	return entries, nil
}

// customMetadata reads a KV v2 key's custom_metadata (never its value).
func (c *client) customMetadata(ctx context.Context, key string) (map[string]string, error) {
	s, err := c.do(ctx, fmt.Sprintf("reading the metadata of %q", key), func() (*vaultapi.Secret, error) {
		return c.api.Logical().ReadWithContext(ctx, c.mount()+"/metadata/"+key)
	})
	if err != nil {
		return nil, err
	}
	if s == nil || s.Data == nil {
		return nil, providers.Errorf(providers.ErrNotFound, "vault: %q not found", key)
	}
	custom, _ := s.Data["custom_metadata"].(map[string]any)
	tags := map[string]string{}
	for k, v := range custom {
		if str, ok := v.(string); ok {
			tags[k] = str
		}
	}
	return tags, nil
}
