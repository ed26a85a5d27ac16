package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vfv1alpha1 "github.com/vaultferry/vaultferry/apis/v1alpha1"
	"github.com/vaultferry/vaultferry/providers"
	"github.com/vaultferry/vaultferry/providers/providertest"
	"github.com/vaultferry/vaultferry/providers/vault"
	"github.com/vaultferry/vaultferry/test/vaultdev"
)

func tokenStore(server, token string) (vfv1alpha1.GenericStore, providers.Kube, string) {
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "vault-token"}, Data: map[string][]byte{"token": []byte(token)}}
	kube := providertest.Kube(creds)
	return &vfv1alpha1.SecretStore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "vault"},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{
			Server: server, Path: "secret", Version: vfv1alpha1.VaultKVv2,
			Auth: vfv1alpha1.VaultAuth{TokenSecretRef: &vfv1alpha1.SecretKeySelector{Name: "vault-token", Key: "token"}},
		}}},
	}, kube, "team"
}

// The conformance suite against a real Vault dev server.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Vault dev server")
	}
	v := vaultdev.Start(t)
	providertest.Run(t, providertest.Harness{
		Provider:   vault.New(),
		Structured: true,
		Folders:    true,
		Tag:        func(t *testing.T, key string, tags map[string]string) { v.TagKV(t, key, tags) },
		Seed: func(t *testing.T, key string, value []byte) string {
			var data map[string]any
			if err := json.Unmarshal(value, &data); err != nil {
				t.Fatalf("seeding %s: %v", key, err)
			}
			return v.PutKV(t, key, data)
		},
		Store: func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
			return tokenStore(v.Addr, vaultdev.RootToken)
		},
		BadCredentials: func(*testing.T) (vfv1alpha1.GenericStore, providers.Kube, string) {
			return tokenStore(v.Addr, "not-a-token")
		},
	})
}

// Provider behaviour against a real dev server beyond the conformance suite.
func TestVaultSpecifics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Vault dev server")
	}
	ctx := context.Background()

	t.Run("TLS with the CA from a Secret; without it, Unavailable", func(t *testing.T) {
		v := vaultdev.StartTLS(t)
		v.PutKV(t, "tls/db", map[string]any{"password": "over-tls"})
		store, kube, ns := tokenStore(v.Addr, vaultdev.RootToken)
		untrusting, err := vault.New().NewClient(ctx, store, kube, ns)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := untrusting.GetSecret(ctx, providers.Ref{Key: "tls/db"}); !errors.Is(err, providers.ErrUnavailable) {
			t.Fatalf("without the CA: %v, want Unavailable", err)
		}
		ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "vault-ca"}, Data: map[string][]byte{"ca.crt": v.CA(t)}}
		token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "vault-token"}, Data: map[string][]byte{"token": []byte(vaultdev.RootToken)}}
		kube = providertest.Kube(ca, token)
		store.GetSpec().Provider.Vault.CAProvider = &vfv1alpha1.CAProvider{Type: "Secret", Name: "vault-ca", Key: "ca.crt"}
		c, err := vault.New().NewClient(ctx, store, kube, ns)
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.GetSecret(ctx, providers.Ref{Key: "tls/db"})
		if err != nil || !strings.Contains(string(s.Value), "over-tls") {
			t.Fatalf("read over TLS: %q %v", s.Value, err)
		}
	})

	v := vaultdev.Start(t)
	store, kube, ns := tokenStore(v.Addr, vaultdev.RootToken)
	c, err := vault.New().NewClient(ctx, store, kube, ns)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("deleted and destroyed versions are NotFound, saying so", func(t *testing.T) {
		v.PutKV(t, "gone/db", map[string]any{"password": "one"})
		v.PutKV(t, "gone/db", map[string]any{"password": "two"})
		v.Write(t, "secret/delete/gone/db", map[string]any{"versions": []int{1}})
		v.Write(t, "secret/destroy/gone/db", map[string]any{"versions": []int{2}})
		for version, word := range map[string]string{"1": "deleted", "2": "destroyed"} {
			_, err := c.GetSecret(ctx, providers.Ref{Key: "gone/db", Version: version})
			if !errors.Is(err, providers.ErrNotFound) || !strings.Contains(err.Error(), word) {
				t.Errorf("version %s: %v, want NotFound saying %q", version, err, word)
			}
		}
	})

	t.Run("custom_metadata expires_at is the expiry", func(t *testing.T) {
		v.PutKV(t, "expiring/db", map[string]any{"password": "x"})
		v.Write(t, "secret/metadata/expiring/db", map[string]any{"custom_metadata": map[string]any{"expires_at": "2031-01-02T03:04:05Z"}})
		s, err := c.GetSecret(ctx, providers.Ref{Key: "expiring/db"})
		if err != nil || s.ExpiresAt == nil || s.ExpiresAt.Year() != 2031 {
			t.Fatalf("ExpiresAt = %v, %v", s.ExpiresAt, err)
		}
	})

	t.Run("a login token is renewed near expiry and revoked on Close", func(t *testing.T) {
		ac := appRoleClient(t, v, "short", map[string]any{"token_ttl": "20s", "token_max_ttl": "1h"})
		// The token's 20s TTL is inside the renewal window: the next call renews instead of logging in.
		if err := ac.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if n := v.Requests(t, "auth/token/renew-self"); n < 1 {
			t.Errorf("the token was not renewed (%d renew-self requests)", n)
		}
		if n := v.Logins(t, "approle"); n != 1 {
			t.Errorf("%d logins, want 1: renewal must not re-issue", n)
		}
		if err := ac.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ac.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if n := v.Requests(t, "auth/token/revoke-self"); n != 1 {
			t.Errorf("%d revoke-self requests after Close, want 1", n)
		}
	})
}

// A Vault behind a listener that requires client certificates: the store's
// clientTLSSecretRef certificate is presented (a local TLS server stands in
// for the listener; what is tested is the TLS handshake).
func TestClientCertificateIsPresented(t *testing.T) {
	ctx := context.Background()
	clientCert, clientKey := selfSigned(t, "vaultferry-client")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(clientCert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte(`{"data":{"data":{"password":"mtls"},"metadata":{"version":1}}}`))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "vault-token"}, Data: map[string][]byte{"token": []byte("t")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "client-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: clientCert, corev1.TLSPrivateKeyKey: clientKey}},
	}
	kube := providertest.Kube(objs...)
	store, _, ns := tokenStore(srv.URL, "t")
	spec := store.GetSpec().Provider.Vault
	spec.CABundle = serverCA
	c, err := vault.New().NewClient(ctx, store, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(ctx, providers.Ref{Key: "x"}); err == nil {
		t.Fatal("the handshake succeeded without a client certificate")
	}
	spec.ClientTLSSecretRef = &vfv1alpha1.SecretReference{Name: "client-tls"}
	c, err = vault.New().NewClient(ctx, store, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.GetSecret(ctx, providers.Ref{Key: "x"})
	if err != nil || !strings.Contains(string(s.Value), "mtls") {
		t.Fatalf("with the client certificate: %q, %v", s.Value, err)
	}
}

// Stores that trust the same CA share their connections to Vault, each
// request still carrying its own store's token; a store trusting another CA
// bundle, or presenting a client certificate, gets connections of its own.
func TestStoresShareConnectionsPerCA(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	connections, tokens := 0, map[string]int{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens[r.Header.Get("X-Vault-Token")]++
		mu.Unlock()
		_, _ = w.Write([]byte(`{"data":{"data":{"password":"p"},"metadata":{"version":1}}}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			mu.Lock()
			connections++
			mu.Unlock()
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	clientCert, clientKey := selfSigned(t, "vaultferry-client")

	provider := vault.New()
	read := func(token string, ca []byte, withCert bool) {
		t.Helper()
		store, _, ns := tokenStore(srv.URL, token)
		spec := store.GetSpec().Provider.Vault
		spec.CABundle = ca
		objs := []client.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "vault-token"}, Data: map[string][]byte{"token": []byte(token)}}}
		if withCert {
			objs = append(objs, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "client-tls"}, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{corev1.TLSCertKey: clientCert, corev1.TLSPrivateKeyKey: clientKey}})
			spec.ClientTLSSecretRef = &vfv1alpha1.SecretReference{Name: "client-tls"}
		}
		c, err := provider.NewClient(ctx, store, providertest.Kube(objs...), ns)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetSecret(ctx, providers.Ref{Key: "app/db"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := func() (int, map[string]int) {
		mu.Lock()
		defer mu.Unlock()
		return connections, maps.Clone(tokens)
	}

	for i := range 5 {
		read(fmt.Sprintf("tenant-%d", i), serverCA, false)
	}
	n, byToken := seen()
	if n != 1 {
		t.Errorf("5 stores trusting one CA opened %d connections, want 1", n)
	}
	for i := range 5 {
		if byToken[fmt.Sprintf("tenant-%d", i)] == 0 {
			t.Errorf("no request carried tenant-%d's token: %v", i, byToken)
		}
	}
	read("other-bundle", append(slices.Clone(serverCA), serverCA...), false)
	if n, _ := seen(); n != 2 {
		t.Errorf("a store trusting another CA bundle: %d connections in all, want 2", n)
	}
	read("with-certificate", serverCA, true)
	if n, _ := seen(); n != 3 {
		t.Errorf("a store presenting a client certificate: %d connections in all, want 3", n)
	}
}

func selfSigned(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// A revoked login token is replaced by one new login, and a policy denial
// does not cause a login at all.
func TestRevokedTokenReloginsOncePolicyDenialNever(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Vault dev server")
	}
	ctx := context.Background()
	v := vaultdev.Start(t)
	v.PutKV(t, "allowed/db", map[string]any{"password": "x"})
	v.PutKV(t, "denied/db", map[string]any{"password": "y"})
	v.Write(t, "sys/policies/acl/allowed", map[string]any{"policy": `path "secret/data/allowed/*" { capabilities = ["read"] }`})
	c := appRoleClient(t, v, "r", map[string]any{"token_policies": "allowed", "token_ttl": "1h"})
	for range 3 {
		if _, err := c.GetSecret(ctx, providers.Ref{Key: "denied/db"}); !errors.Is(err, providers.ErrForbidden) {
			t.Fatalf("policy denial: %v", err)
		}
	}
	if n := v.Logins(t, "approle"); n != 1 {
		t.Fatalf("%d logins after policy denials, want 1", n)
	}
	// Revoke every token of the role, as an admin would: the next read logs in once and succeeds.
	accessors, err := v.Client.Logical().List("auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accessors.Data["keys"].([]any) {
		info, _ := v.Client.Logical().Write("auth/token/lookup-accessor", map[string]any{"accessor": a})
		if info != nil && fmt.Sprint(info.Data["path"]) == "auth/approle/login" {
			v.Write(t, "auth/token/revoke-accessor", map[string]any{"accessor": a})
		}
	}
	if _, err := c.GetSecret(ctx, providers.Ref{Key: "allowed/db"}); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if n := v.Logins(t, "approle"); n != 2 {
		t.Fatalf("%d logins after a revocation, want 2", n)
	}
}

// appRoleClient is a Vault client of a SecretStore in "team" logging in with
// a new AppRole role configured by config.
func appRoleClient(t *testing.T, v *vaultdev.Server, role string, config map[string]any) providers.Client {
	t.Helper()
	roleID, secretID := v.AppRole(t, role, config)
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "approle"}, Data: map[string][]byte{"id": []byte(secretID)}}
	store := &vfv1alpha1.SecretStore{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "approle"},
		Spec: vfv1alpha1.SecretStoreSpec{Provider: vfv1alpha1.SecretStoreProvider{Vault: &vfv1alpha1.VaultProvider{
			Server: v.Addr, Auth: vfv1alpha1.VaultAuth{AppRole: &vfv1alpha1.VaultAppRole{
				RoleID: roleID, SecretRef: vfv1alpha1.SecretKeySelector{Name: "approle", Key: "id"}}}}}}}
	c, err := vault.New().NewClient(context.Background(), store, providertest.Kube(creds), "team")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
