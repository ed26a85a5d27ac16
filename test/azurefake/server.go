// Package azurefake is a fake Azure Key Vault and Entra ID token endpoint for
// tests: no emulator can run here, so it serves the real REST API over TLS
// (the bearer challenge, GET /secrets/{name}/{version}, the versions list,
// Key Vault's error shape) and the OAuth2 token endpoint, checking client
// secrets, certificate assertions and workload identity assertions. The real
// azsecrets and azidentity clients talk to it; they trust its certificate
// through Client() and reach it under real-looking host names
// (https://<vault>.vault.test, https://login.test) so Key Vault's challenge
// resource check runs unmodified.
package azurefake

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vaultferry/vaultferry/test/testcert"
)

// Domains the fake answers for.
const (
	VaultDomain   = "vault.test"
	AuthorityHost = "https://login.test/"
)

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	Tenant string

	rootCAs *x509.CertPool

	mu         sync.Mutex
	clients    map[string]string            // client id → secret
	certs      map[string]*x509.Certificate // client id → certificate
	secrets    map[string][]*version
	failures   map[string]failure
	assertions []string // workload identity assertions received
	issued     map[string]bool
	requests   map[string]int
}

type version struct {
	id      string
	value   string
	enabled bool
	expires *time.Time
	tags    map[string]string
}

type failure struct {
	status     int
	code       string
	retryAfter int
}

// New starts a fake for tenant.
func New(tenant string) *Server {
	s := &Server{Tenant: tenant, clients: map[string]string{}, certs: map[string]*x509.Certificate{},
		secrets: map[string][]*version{}, failures: map[string]failure{}, issued: map[string]bool{}, requests: map[string]int{}}
	serving, err := testcert.New("*."+VaultDomain, "login.test")
	if err != nil {
		panic(err) // crypto/rand and x509 do not fail on valid templates
	}
	s.rootCAs = serving.Pool
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{serving.Certificate}, MinVersion: tls.VersionTLS12}
	s.StartTLS()
	return s
}

// VaultURL is the URL of a vault served by the fake.
func (s *Server) VaultURL(name string) string { return "https://" + name + "." + VaultDomain }

// Client trusts the fake's CA and routes every *.vault.test and login.test
// connection to it. Certificate verification stays on.
func (s *Server) Client() *http.Client {
	addr := s.Listener.Addr().String()
	dialer := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
	}}
}

// AddClient registers a service principal with a client secret.
func (s *Server) AddClient(clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = secret
}

// AddCertificateClient registers a service principal with a certificate and
// returns the PEM (certificate and private key) the client authenticates with.
func (s *Server) AddCertificateClient(clientID string) []byte {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: clientID},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	s.mu.Lock()
	s.certs[clientID] = cert
	s.mu.Unlock()
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
}

// Set adds a new enabled version of a secret and returns its version id.
func (s *Server) Set(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := fmt.Sprintf("%032x", len(s.secrets[name])+1)
	s.secrets[name] = append(s.secrets[name], &version{id: id, value: value, enabled: true})
	return id
}

// Disable disables the latest version; Expire sets its expiry.
func (s *Server) Disable(name string) { s.latest(name, func(v *version) { v.enabled = false }) }

// Expire sets the latest version's expiry.
func (s *Server) Expire(name string, at time.Time) {
	s.latest(name, func(v *version) { v.expires = &at })
}

// Tag sets the tags of the latest version (Key Vault lists the current
// version's tags).
func (s *Server) Tag(name string, tags map[string]string) {
	s.latest(name, func(v *version) { v.tags = tags })
}

func (s *Server) latest(name string, f func(*version)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.secrets[name]
	f(vs[len(vs)-1])
}

// Fail makes reads of the secret answer with an HTTP status and Key Vault
// error code (and Retry-After seconds, for 429); status 0 clears it.
func (s *Server) Fail(name string, status int, code string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.failures, name)
		return
	}
	s.failures[name] = failure{status, code, retryAfter}
}

// Assertions returns the workload identity client assertions received.
func (s *Server) Assertions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.assertions...)
}

// Requests counts requests by kind: "token", "challenge", "get", "versions", "list".
func (s *Server) Requests(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[kind]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Host == "login.test" || strings.HasPrefix(r.Host, "login.test:"):
		s.serveEntra(w, r)
	case strings.HasSuffix(strings.Split(r.Host, ":")[0], "."+VaultDomain):
		s.serveVault(w, r)
	default:
		http.Error(w, "unknown host "+r.Host, http.StatusMisdirectedRequest)
	}
}

func (s *Server) serveEntra(w http.ResponseWriter, r *http.Request) {
	base := strings.TrimSuffix(AuthorityHost, "/") + "/" + s.Tenant
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                base + "/v2.0",
			"jwks_uri":                              base + "/discovery/v2.0/keys",
			"response_types_supported":              []string{"code", "token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case r.Method == http.MethodPost && r.URL.Path == "/"+s.Tenant+"/oauth2/v2.0/token":
		s.serveToken(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not_found", "error_description": "unknown path " + r.URL.Path})
	}
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests["token"]++
	clientID := r.PostForm.Get("client_id")
	ok := false
	switch {
	case r.PostForm.Get("client_secret") != "":
		ok = s.clients[clientID] != "" && s.clients[clientID] == r.PostForm.Get("client_secret")
	case r.PostForm.Get("client_assertion") != "":
		assertion := r.PostForm.Get("client_assertion")
		if cert := s.certs[clientID]; cert != nil {
			ok = verifyCertificateAssertion(assertion, cert)
		} else {
			s.assertions = append(s.assertions, assertion)
			ok = strings.Count(assertion, ".") == 2 // the test checks it with TokenReview
		}
	}
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client",
			"error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": []int{7000215}})
		return
	}
	token := fmt.Sprintf("fake-access-token-%d", len(s.issued)+1)
	s.issued[token] = true
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token})
}

func (s *Server) serveVault(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !s.issued[auth] {
		s.requests["challenge"]++
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s%s", resource="https://%s"`, AuthorityHost, s.Tenant, VaultDomain))
		writeKVError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", "")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 1 && parts[0] == "secrets" {
		s.requests["list"]++
		writeJSON(w, http.StatusOK, s.listPage(r))
		return
	}
	if len(parts) < 2 || parts[0] != "secrets" {
		writeKVError(w, http.StatusBadRequest, "BadParameter", "unsupported path", "")
		return
	}
	name := parts[1]
	if f, failing := s.failures[name]; failing {
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		writeKVError(w, f.status, f.code, "injected failure", "")
		return
	}
	versions := s.secrets[name]
	if len(versions) == 0 {
		writeKVError(w, http.StatusNotFound, "SecretNotFound", fmt.Sprintf("A secret with (name/id) %s was not found in this key vault.", name), "")
		return
	}
	if len(parts) == 3 && parts[2] == "versions" {
		s.requests["versions"]++
		list := []map[string]any{}
		for _, v := range versions {
			list = append(list, map[string]any{"id": s.vaultBase(r) + "/secrets/" + name + "/" + v.id, "attributes": attributes(v)})
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": list, "nextLink": nil})
		return
	}
	s.requests["get"]++
	v := versions[len(versions)-1]
	if len(parts) == 3 && parts[2] != "" {
		v = nil
		for _, candidate := range versions {
			if candidate.id == parts[2] {
				v = candidate
			}
		}
		if v == nil {
			writeKVError(w, http.StatusNotFound, "SecretNotFound", "A secret with (name/id) "+name+"/"+parts[2]+" was not found in this key vault.", "")
			return
		}
	}
	if !v.enabled {
		writeKVError(w, http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"value": v.value, "id": s.vaultBase(r) + "/secrets/" + name + "/" + v.id,
		"attributes": attributes(v), "contentType": "application/json", "tags": v.tags,
	})
}

// listPage answers "list secret properties" a page at a time (maxresults,
// at most 25 as Key Vault serves, and a nextLink carrying $skiptoken), with
// each secret's current tags and attributes, never values.
func (s *Server) listPage(r *http.Request) map[string]any {
	names := slices.Sorted(maps.Keys(s.secrets))
	size := 25
	if n, err := strconv.Atoi(r.URL.Query().Get("maxresults")); err == nil && n > 0 && n < size {
		size = n
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	start = min(max(start, 0), len(names))
	end := min(start+size, len(names))
	list := []map[string]any{}
	for _, name := range names[start:end] {
		v := s.secrets[name][len(s.secrets[name])-1]
		item := map[string]any{"id": s.vaultBase(r) + "/secrets/" + name, "attributes": attributes(v)}
		if v.tags != nil {
			item["tags"] = v.tags
		}
		list = append(list, item)
	}
	page := map[string]any{"value": list, "nextLink": nil}
	if end < len(names) {
		q := r.URL.Query()
		q.Set("$skiptoken", strconv.Itoa(end))
		page["nextLink"] = s.vaultBase(r) + "/secrets?" + q.Encode()
	}
	return page
}

func (s *Server) vaultBase(r *http.Request) string { return "https://" + r.Host }

func attributes(v *version) map[string]any {
	a := map[string]any{"enabled": v.enabled, "created": time.Now().Unix(), "updated": time.Now().Unix(), "recoveryLevel": "Recoverable"}
	if v.expires != nil {
		a["exp"] = v.expires.Unix()
	}
	return a
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeKVError(w http.ResponseWriter, status int, code, message, inner string) {
	body := map[string]any{"code": code, "message": message}
	if inner != "" {
		body["innererror"] = map[string]string{"code": inner}
	}
	writeJSON(w, status, map[string]any{"error": body})
}

// verifyCertificateAssertion checks an RS256/PS256 JWT client assertion
// against the registered certificate: its x5t thumbprint and its signature.
func verifyCertificateAssertion(assertion string, cert *x509.Certificate) bool {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return false
	}
	headerJSON, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var header struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	if json.Unmarshal(headerJSON, &header) != nil {
		return false
	}
	sha1Sum := sha1.Sum(cert.Raw) //nolint:gosec // x5t is defined as SHA-1
	sha256Sum := sha256.Sum256(cert.Raw)
	// MSAL writes the thumbprints in standard base64; RFC 7515 says base64url: accept both.
	thumbprints := map[string]bool{
		base64.RawURLEncoding.EncodeToString(sha1Sum[:]): true, base64.StdEncoding.EncodeToString(sha1Sum[:]): true,
		base64.RawURLEncoding.EncodeToString(sha256Sum[:]): true, base64.StdEncoding.EncodeToString(sha256Sum[:]): true,
	}
	if !thumbprints[header.X5t] && !thumbprints[header.X5tS256] {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return false
	}
	switch header.Alg {
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, nil) == nil
	default:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	}
}
