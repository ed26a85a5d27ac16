package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// Issue reads (database/creds/<role>) or writes (pki/issue/<role>) a path
// that issues credentials. Errors name the path, never the credentials.
func (c *client) Issue(ctx context.Context, req providers.IssueRequest) (providers.Lease, error) {
	// Sent exactly as given: cleaning would change what a path names.
	path := req.Path
	if err := paths.CheckDynamic(path); err != nil {
		return providers.Lease{}, providers.Errorf(providers.ErrInvalid, "vault: issuing from %q: %v", path, err)
	}
	s, err := c.do(ctx, fmt.Sprintf("issuing from %q", path), func() (*vaultapi.Secret, error) {
		if req.Write {
			return c.api.Logical().WriteWithContext(ctx, path, req.Parameters)
		}
		return c.api.Logical().ReadWithContext(ctx, path)
	})
	if err != nil {
		return providers.Lease{}, err
	}
	if s == nil || len(s.Data) == 0 {
		return providers.Lease{}, providers.Errorf(providers.ErrNotFound, "vault: %q issued nothing", path)
	}
	lease := leaseOf(s, time.Now())
	data := make(map[string][]byte, len(s.Data))
	for k, v := range s.Data {
		switch v := v.(type) {
		case string:
			data[k] = []byte(v)
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return providers.Lease{}, providers.Errorf(providers.ErrInvalid, "vault: field %q issued by %q cannot be encoded", k, path)
			}
			data[k] = b
		}
	}
	lease.Data = data
	// A certificate has no lease; it expires at its notAfter ("expiration").
	if exp, ok := s.Data["expiration"].(json.Number); ok && lease.ID == "" {
		if unix, err := exp.Int64(); err == nil {
			lease.ExpiresAt = time.Unix(unix, 0)
			lease.TTL = time.Until(lease.ExpiresAt)
		}
	}
	return lease, nil
}

// Renew extends a lease by increment through sys/leases/renew.
func (c *client) Renew(ctx context.Context, leaseID string, increment time.Duration) (providers.Lease, error) {
	s, err := c.do(ctx, "renewing a lease", func() (*vaultapi.Secret, error) {
		return c.api.Sys().RenewWithContext(ctx, leaseID, int(increment.Seconds()))
	})
	if err != nil {
		return providers.Lease{}, err
	}
	if s == nil {
		return providers.Lease{}, providers.Errorf(providers.ErrUnavailable, "vault: renewing a lease returned nothing")
	}
	return leaseOf(s, time.Now()), nil
}

// Revoke ends a lease through sys/leases/revoke. Revoking a lease Vault no
// longer knows succeeds: what it stood for is gone either way.
func (c *client) Revoke(ctx context.Context, leaseID string) error {
	_, err := c.do(ctx, "revoking a lease", func() (*vaultapi.Secret, error) {
		return nil, c.api.Sys().RevokeWithContext(ctx, leaseID)
	})
	return err
}

func leaseOf(s *vaultapi.Secret, now time.Time) providers.Lease {
	ttl := time.Duration(s.LeaseDuration) * time.Second
	return providers.Lease{ID: s.LeaseID, TTL: ttl, Renewable: s.Renewable, ExpiresAt: now.Add(ttl)}
}

var _ providers.Leaser = (*client)(nil)
