package vault_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"testing"
	"time"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/vault"
	"github.com/vaultferry/vaultferry/test/postgres"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

func leaser(t *testing.T, v *vaultdev.Server) providers.Leaser {
	t.Helper()
	store, kube, ns := tokenStore(v.Addr, vaultdev.RootToken)
	store.GetSpec().Dynamic = []vfv1alpha1.DynamicGrant{
		{Path: "database/creds/*", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicRead}},
		{Path: "pki/issue/*", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicWrite}},
	}
	c, err := vault.New().NewClient(context.Background(), store, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	l, ok := c.(providers.Leaser)
	if !ok {
		t.Fatal("the Vault client does not issue leases")
	}
	return l
}

// Database credentials from Vault's database engine against a real
// PostgreSQL: issued as a role that can log in, renewed, revoked (the role
// is dropped).
func TestDatabaseCredentialsLeaseLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Vault and PostgreSQL")
	}
	ctx := context.Background()
	pg := postgres.Start(t)
	v := vaultdev.Start(t)
	v.Write(t, "sys/mounts/database", map[string]any{"type": "database"})
	v.Write(t, "database/config/pg", map[string]any{"plugin_name": "postgresql-database-plugin", "connection_url": pg.URL(),
		"username": postgres.Superuser, "password": postgres.SuperuserPassword, "allowed_roles": "app", "verify_connection": true})
	v.Write(t, "database/roles/app", map[string]any{"db_name": "pg", "default_ttl": "20s", "max_ttl": "1m",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`})
	l := leaser(t, v)

	lease, err := l.Issue(ctx, providers.IssueRequest{Path: "database/creds/app"})
	if err != nil {
		t.Fatal(err)
	}
	user, password := string(lease.Data["username"]), string(lease.Data["password"])
	if lease.ID == "" || !lease.Renewable || lease.TTL != 20*time.Second || user == "" || password == "" {
		t.Fatalf("lease: id set %v, renewable %v, ttl %v, username %q", lease.ID != "", lease.Renewable, lease.TTL, user)
	}
	if !slices.Contains(pg.Roles(t), user) {
		t.Fatalf("role %s is not in pg_roles: %v", user, pg.Roles(t))
	}
	if _, err := pg.Query(user, password, "select 1"); err != nil {
		t.Fatalf("the issued credentials do not log in: %v", err)
	}

	renewed, err := l.Renew(ctx, lease.ID, 40*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.ID != lease.ID || renewed.TTL < 30*time.Second {
		t.Errorf("renewal: same id %v, ttl %v, want about 40s", renewed.ID == lease.ID, renewed.TTL)
	}
	if _, err := pg.Query(user, password, "select 1"); err != nil {
		t.Fatalf("the credentials stopped working after a renewal: %v", err)
	}

	if err := l.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(pg.Roles(t), user) {
		t.Errorf("role %s is still in pg_roles after the revocation", user)
	}
	if _, err := l.Renew(ctx, lease.ID, time.Minute); err == nil {
		t.Error("a revoked lease renewed")
	}
	if _, err := l.Issue(ctx, providers.IssueRequest{Path: "database/creds/absent"}); err == nil {
		t.Errorf("issuing from a role that does not exist: %v", err)
	}
}

// A certificate from Vault's PKI engine: the requested names and TTL, the
// key and the issuing CA, and its notAfter as the expiry.
func TestPKICertificateIssue(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Vault")
	}
	ctx := context.Background()
	v := vaultdev.Start(t)
	v.PKI(t, map[string]any{"allow_ip_sans": true})
	l := leaser(t, v)

	lease, err := l.Issue(ctx, providers.IssueRequest{Path: "pki/issue/web", Write: true, Parameters: map[string]any{
		"common_name": "web.example.test", "alt_names": "api.example.test", "ip_sans": "127.0.0.1", "ttl": "10m"}})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(lease.Data["certificate"])
	if block == nil {
		t.Fatal("no certificate issued")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "web.example.test" || !slices.Contains(cert.DNSNames, "api.example.test") ||
		!slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("127.0.0.1")) }) {
		t.Errorf("certificate: CN %q, DNS %v, IPs %v", cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses)
	}
	if !lease.ExpiresAt.Equal(cert.NotAfter) || lease.ID != "" {
		t.Errorf("expiry %v, notAfter %v, lease id set %v: a certificate expires at its notAfter and has no lease", lease.ExpiresAt, cert.NotAfter, lease.ID != "")
	}
	if d := time.Until(cert.NotAfter); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("notAfter in %v, want the requested 10m", d)
	}
	if len(lease.Data["private_key"]) == 0 || len(lease.Data["issuing_ca"]) == 0 {
		t.Error("no private key or issuing CA")
	}
}
