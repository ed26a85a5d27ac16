package vault_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/vault"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

// pathVariants are ways of writing a path that names something else than
// it seems to: dot segments, empty segments, percent-escapes, backslashes,
// case, trailing slashes, Unicode look-alikes and invisible characters,
// Vault Enterprise namespaces' own sys/. Each goes through every field that
// takes a path.
var pathVariants = []string{
	"secret/../sys/policy/pwn",
	"./sys/policy/pwn",
	"x/../auth/token/lookup-self",
	"../../sys/policy/pwn",
	"a/b/../../../../sys/policy/pwn",
	"secret//../../sys/policy/pwn",
	"pki/issue/web/../../../sys/policy/pwn",
	"pki/issue/../../auth/token/lookup-self",
	"%2e%2e/%2e%2e/sys/policy/pwn",
	"pki/issue/%2e%2e/%2e%2e/sys/policy/pwn",
	"..\\..\\sys\\policy\\pwn",
	"sys/policy/pwn",
	"sys/policy/pwn/",
	"/sys/policy/pwn",
	"SYS/policy/pwn",
	"\uff0e\uff0e/\uff0e\uff0e/sys/policy/pwn", // full-width full stops
	"..\u2215..\u2215sys\u2215policy\u2215pwn", // division slashes
	"sys\u200b/policy/pwn",                     // zero-width space
	"ns1/sys/policy/pwn",
	"auth/token/create",
	"identity/entity",
	"cubbyhole/x",
	"kv1/tenants/team-b/db",
	"secret/data/tenants/team-b/db",
}

// The store's guard is the last check before a request leaves, behind the
// controller's: Vault is asked only for the store's KV mount, its own token
// and login, and the dynamic paths the store grants, with the granted
// method. Driven straight through the provider's client (no controller
// check in front) with every variant through every path-taking field,
// against the real Vault with the root token (so Vault's policies stop
// nothing); Vault's audit log shows what was asked.
func TestGuardAsksVaultOnlyForWhatTheStoreDeclares(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Vault")
	}
	ctx := context.Background()
	v := vaultdev.Start(t)
	v.Write(t, "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	v.Write(t, "kv1/tenants/team-b/db", map[string]any{"password": "team-b-secret"})
	v.PutKV(t, "tenants/team-a/db", map[string]any{"password": "team-a-secret"})
	v.PKI(t, map[string]any{"generate_lease": true})

	store, kube, ns := tokenStore(v.Addr, vaultdev.RootToken)
	store.GetSpec().Dynamic = []vfv1alpha1.DynamicGrant{{Path: "pki/issue/web", Methods: []vfv1alpha1.DynamicMethod{vfv1alpha1.DynamicWrite}}}
	c, err := vault.New().NewClient(ctx, store, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	leaser := c.(providers.Leaser)
	mark := v.AuditMark(t)

	// What the store declares works: a KV read, a granted issue, renewing
	// and revoking the lease it came with.
	if _, err := c.GetSecret(ctx, providers.Ref{Key: "tenants/team-a/db"}); err != nil {
		t.Fatalf("reading the store's own mount: %v", err)
	}
	cert, err := leaser.Issue(ctx, providers.IssueRequest{Path: "pki/issue/web", Write: true, Parameters: map[string]any{"common_name": "a.example.test"}})
	if err != nil || cert.ID == "" {
		t.Fatalf("issuing from a granted path: %v (lease id set: %v)", err, cert.ID != "")
	}
	// (Vault answers that a certificate's lease cannot be renewed: what
	// matters is that the request was sent.)
	if _, err := leaser.Renew(ctx, cert.ID, time.Minute); err != nil && strings.Contains(err.Error(), "refused") {
		t.Fatalf("renewing a lease from a granted path: %v", err)
	}
	// Not granted: the same path with the other method, and every variant
	// through every field.
	if _, err := leaser.Issue(ctx, providers.IssueRequest{Path: "pki/issue/web"}); !errors.Is(err, providers.ErrForbidden) {
		t.Errorf("a Read of a path granted for Write: %v, want Forbidden", err)
	}
	pwn := map[string]any{"policy": `path "*" { capabilities = ["sudo", "create", "update", "read"] }`, "password": "pwned"}
	for _, p := range pathVariants {
		for _, write := range []bool{true, false} {
			if _, err := leaser.Issue(ctx, providers.IssueRequest{Path: p, Write: write, Parameters: pwn}); err == nil {
				t.Errorf("Issue(%q, write=%v) was sent and answered", p, write)
			}
		}
		if s, err := c.GetSecret(ctx, providers.Ref{Key: p}); err == nil {
			t.Errorf("GetSecret(%q) answered %d bytes", p, len(s.Value))
		}
		if found, err := c.FindSecrets(ctx, providers.FindRequest{Path: p, MaxKeys: 10, Keep: func(string) bool { return true }}); len(found) > 0 {
			t.Errorf("FindSecrets(%q) found %d keys (%v)", p, len(found), err)
		}
		for _, id := range []string{p, p + "/AbCdEf123456"} {
			if _, err := leaser.Renew(ctx, id, time.Second); err == nil {
				t.Errorf("Renew(%q) was sent and answered", id)
			}
			_ = leaser.Revoke(ctx, id) // Vault answers 204 for unknown leases: the audit log judges
		}
	}
	if err := leaser.Revoke(ctx, cert.ID); err != nil {
		t.Fatalf("revoking a lease from a granted path: %v", err)
	}

	allowed := func(r vaultdev.Request) bool {
		switch {
		case strings.HasPrefix(r.Path, "secret/data/"), strings.HasPrefix(r.Path, "secret/metadata/"), r.Path == "secret/metadata":
			return r.Operation == "read" || r.Operation == "list"
		case r.Path == "pki/issue/web":
			return r.Operation == "update"
		case r.Path == "auth/token/lookup-self", r.Path == "sys/leases/renew", r.Path == "sys/leases/revoke":
			return true
		}
		return false
	}
	requests := v.RequestsSince(t, mark)
	for _, r := range requests {
		if !allowed(r) {
			t.Errorf("Vault received %s %s, outside what the store declares", r.Operation, r.Path)
		}
	}
	if !slices.Contains(requests, vaultdev.Request{Operation: "update", Path: "pki/issue/web"}) {
		t.Error("the granted issue is not in the audit log: the test would not see a request")
	}
	if p, err := v.Client.Sys().GetPolicy("pwn"); err != nil || p != "" {
		t.Errorf("policy pwn exists (%q, %v)", p, err)
	}
	if s, err := v.Client.Logical().Read("kv1/tenants/team-b/db"); err != nil || s.Data["password"] != "team-b-secret" {
		t.Errorf("another tenant's KV secret changed: %v, %v", s, err)
	}
}

// A store endpoint that answers without end (a tenant's own "Vault") costs
// the operator at most providers.MaxResponseBytes, and the sync fails with
// an error saying so.
func TestResponsesAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"data":{"data":{"x":"`)
		chunk := bytes.Repeat([]byte("a"), 1<<20)
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}}}`)
	}))
	defer srv.Close()
	store, kube, ns := tokenStore(srv.URL, "token")
	c, err := vault.New().NewClient(context.Background(), store, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(context.Background(), providers.Ref{Key: "big"})
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("a 64 MiB answer: %v, want Invalid saying it is larger than 16 MiB", err)
	}
}
