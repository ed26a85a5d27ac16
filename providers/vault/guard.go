package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/paths"
)

// refusedError is the guard's answer to a request it did not send;
// classify turns it into ErrForbidden with this message, so the
// ExternalSecret's condition says what was refused.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func refused(format string, args ...any) error {
	return &refusedError{msg: fmt.Sprintf(format, args...)}
}

// scope is everything one store's client may ask of Vault: its KV mount,
// its own login and token, and the dynamic paths the store grants. It is
// checked by guard on every request as it leaves, after Vault's client has
// joined and cleaned the path, so it sees exactly what Vault will serve,
// whatever any check before it saw.
type scope struct {
	mount   string // the KV mount, without slashes
	kvV2    bool
	login   string // auth/<mount>/login, "" for a static token
	dynamic []vfv1alpha1.DynamicGrant
}

func scopeOf(spec *vfv1alpha1.VaultProvider, grants []vfv1alpha1.DynamicGrant) scope {
	s := scope{mount: orDefault(spec.Path, "secret"), kvV2: spec.Version != vfv1alpha1.VaultKVv1, dynamic: grants}
	switch a := spec.Auth; {
	case a.AppRole != nil:
		s.login = "auth/" + orDefault(a.AppRole.Path, "approle") + "/login"
	case a.Kubernetes != nil:
		s.login = "auth/" + orDefault(a.Kubernetes.MountPath, "kubernetes") + "/login"
	}
	return s
}

// guard is an http.RoundTripper that sends a request only when scope
// admits it, and reads at most providers.MaxResponseBytes of the answer.
type guard struct {
	base  http.RoundTripper
	scope scope
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.scope.admits(req); err != nil {
		return nil, err
	}
	resp, err := g.base.RoundTrip(req)
	providers.BoundBody(resp)
	return resp, err
}

// admits checks a request's method, its decoded path (what Vault routes on)
// and, for lease renewal and revocation, the lease id in its body.
func (s scope) admits(req *http.Request) error {
	// RawPath is set only when Path has an encoding other than the default
	// one: then the bytes on the wire could decode to something else.
	rel, ok := strings.CutPrefix(req.URL.Path, "/v1/")
	if req.URL.RawPath != "" || !ok || !canonical(rel) {
		return refused("vault: request to %q refused: not a canonical path", req.URL.Path)
	}
	read := req.Method == http.MethodGet || req.Method == "LIST"
	write := req.Method == http.MethodPut || req.Method == http.MethodPost
	switch {
	case read && s.inMount(rel):
		return nil
	case rel == "auth/token/lookup-self" && read,
		(rel == "auth/token/renew-self" || rel == "auth/token/revoke-self") && write,
		rel == s.login && write:
		return nil
	case (rel == "sys/leases/renew" || rel == "sys/leases/revoke") && write:
		return s.admitsLease(req)
	case read && paths.Granted(s.dynamic, rel, vfv1alpha1.DynamicRead),
		write && paths.Granted(s.dynamic, rel, vfv1alpha1.DynamicWrite):
		return nil
	}
	return refused("vault: %s %q refused: outside what the store declares (its KV mount %q, its login, its token and its dynamic grants)", req.Method, rel, s.mount)
}

// inMount reports whether rel reads the store's KV mount: data/ and
// metadata/ of KV v2, anything below the mount of KV v1.
func (s scope) inMount(rel string) bool {
	if !s.kvV2 {
		return rel == s.mount || strings.HasPrefix(rel, s.mount+"/")
	}
	for _, area := range []string{"/data", "/metadata"} {
		if rel == s.mount+area || strings.HasPrefix(rel, s.mount+area+"/") {
			return true
		}
	}
	return false
}

// admitsLease reads the lease id of a renewal or revocation: it must come
// from a path the store grants. The body is put back for sending.
func (s scope) admitsLease(req *http.Request) error {
	if req.Body == nil {
		return refused("vault: %s without a lease id refused", req.URL.Path)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	_ = req.Body.Close()
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var lease struct {
		ID string `json:"lease_id"`
	}
	if json.Unmarshal(body, &lease) != nil {
		return refused("vault: %s with an unreadable body refused", req.URL.Path)
	}
	if path, ok := paths.LeasePath(lease.ID); !ok || !paths.GrantedAnyMethod(s.dynamic, path) {
		return refused("vault: %s of a lease issued from a path the store does not grant refused", req.URL.Path)
	}
	return nil
}

// canonical reports whether a request path is already clean: no empty,
// "." or ".." segment (CleanKey allows one leading slash, the guard does
// not), nothing Vault's router would read differently.
func canonical(rel string) bool {
	return !strings.HasPrefix(rel, "/") && paths.CleanKey(rel)
}

// checkRetry is Vault's retry policy, except that a request the guard
// refused is never retried: it would be refused again.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	var refusal *refusedError
	if errors.As(err, &refusal) {
		return false, err
	}
	return vaultapi.DefaultRetryPolicy(ctx, resp, err)
}
