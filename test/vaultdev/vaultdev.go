// Package vaultdev runs a real Vault dev server (bin/vault, built by `make
// test-peers`) on 127.0.0.1 for tests, with a file audit log so tests can
// count what Vault itself saw.
package vaultdev

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultferry/vaultferry/test/testenv"
)

// RootToken is the dev server's root token.
const RootToken = "vaultferry-root"

// Server is a running Vault dev server.
type Server struct {
	Addr   string // http://127.0.0.1:port
	Client *vaultapi.Client
	audit  string
	tlsDir string
	cmd    *exec.Cmd
	logs   *testenv.SyncBuffer
	args   []string
}

// Start runs a dev server for the test and stops it at cleanup.
func Start(t testing.TB) *Server { return start(t, false) }

// StartTLS runs a dev server serving TLS with a CA of its own (CA() returns it).
func StartTLS(t testing.TB) *Server { return start(t, true) }

func start(t testing.TB, useTLS bool) *Server {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), "bin", "vault")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("vault missing at %s: run 'make test-peers'", bin)
	}
	addr := testenv.FreeAddr()
	s := &Server{Addr: "http://" + addr, audit: filepath.Join(t.TempDir(), "audit.log"),
		args: []string{"server", "-dev", "-dev-listen-address=" + addr, "-dev-root-token-id=" + RootToken, "-dev-no-store-token"}}
	if useTLS {
		s.tlsDir = t.TempDir()
		s.Addr = "https://" + addr
		s.args = append(s.args, "-dev-tls", "-dev-tls-cert-dir="+s.tlsDir)
	}
	s.cmd = s.start(t, bin)
	t.Cleanup(s.Stop)
	cfg := vaultapi.DefaultConfig()
	cfg.Address = s.Addr
	if useTLS {
		s.waitForFile(t, filepath.Join(s.tlsDir, "vault-ca.pem"))
		if err := cfg.ConfigureTLS(&vaultapi.TLSConfig{CACertBytes: s.CA(t)}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if s.Client, err = vaultapi.NewClient(cfg); err != nil {
		t.Fatal(err)
	}
	s.Client.SetToken(RootToken)
	s.waitReady(t)
	if _, err := s.Client.Logical().Write("sys/audit/file", map[string]any{"type": "file", "options": map[string]any{"file_path": s.audit}}); err != nil {
		t.Fatalf("enabling the audit log: %v", err)
	}
	return s
}

func (s *Server) start(t testing.TB, bin string) *exec.Cmd {
	t.Helper()
	s.logs = &testenv.SyncBuffer{}
	cmd := exec.Command(bin, s.args...)
	cmd.Env = append(os.Environ(), "VAULT_DISABLE_MLOCK=true", "HOME="+t.TempDir())
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if h, err := s.Client.Sys().Health(); err == nil && h.Initialized && !h.Sealed {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("vault dev server not ready:\n%s", s.logs.String())
}

// CA is the PEM CA certificate of a TLS dev server.
func (s *Server) CA(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.tlsDir, "vault-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *Server) waitForFile(t testing.TB, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("vault did not write %s:\n%s", path, s.logs.String())
}

// Pause freezes the server process (SIGSTOP): connections hang, as with a
// Vault that stopped answering; Resume (SIGCONT) brings it back with its data.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

// Resume continues a paused server.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// Stop stops the server.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Seal seals the server; Unseal with UnsealKey reverses it.
func (s *Server) Seal(t testing.TB) {
	t.Helper()
	if err := s.Client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
}

// UnsealKey returns the dev server's unseal key, printed at start.
func (s *Server) UnsealKey(t testing.TB) string {
	t.Helper()
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if k, ok := strings.CutPrefix(strings.TrimSpace(line), "Unseal Key: "); ok {
			return k
		}
	}
	t.Fatal("no unseal key in the dev server output")
	return ""
}

// Unseal unseals the server.
func (s *Server) Unseal(t testing.TB, key string) {
	t.Helper()
	if _, err := s.Client.Sys().Unseal(key); err != nil {
		t.Fatal(err)
	}
}

// PutKV writes data as a new version at path under the KV v2 mount "secret"
// and returns the version number.
func (s *Server) PutKV(t testing.TB, path string, data map[string]any) string {
	t.Helper()
	sec, err := s.Client.Logical().Write("secret/data/"+path, map[string]any{"data": data})
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return fmt.Sprint(sec.Data["version"])
}

// TagKV sets the custom_metadata of the KV v2 key at path (on mount "secret").
func (s *Server) TagKV(t testing.TB, path string, tags map[string]string) {
	t.Helper()
	s.Write(t, "secret/metadata/"+path, map[string]any{"custom_metadata": tags})
}

// Write writes a raw Vault path (mounts, policies, roles).
func (s *Server) Write(t testing.TB, path string, data map[string]any) *vaultapi.Secret {
	t.Helper()
	sec, err := s.Client.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return sec
}

// PKI mounts Vault's PKI engine at pki/ with a root CA and a role "web"
// issuing certificates for example.test and its subdomains for up to an
// hour; role adds to the role's settings (allow_ip_sans, generate_lease, ...).
func (s *Server) PKI(t testing.TB, role map[string]any) {
	t.Helper()
	s.Write(t, "sys/mounts/pki", map[string]any{"type": "pki", "config": map[string]any{"max_lease_ttl": "24h"}})
	s.Write(t, "pki/root/generate/internal", map[string]any{"common_name": "vaultferry test CA", "ttl": "24h"})
	settings := map[string]any{"allowed_domains": "example.test", "allow_subdomains": true, "max_ttl": "1h"}
	maps.Copy(settings, role)
	s.Write(t, "pki/roles/web", settings)
}

// AppRole enables the AppRole auth method (once per server), creates role
// with config and returns its role id and a new secret id.
func (s *Server) AppRole(t testing.TB, role string, config map[string]any) (roleID, secretID string) {
	t.Helper()
	mounts, err := s.Client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mounts["approle/"]; !ok {
		s.Write(t, "sys/auth/approle", map[string]any{"type": "approle"})
	}
	s.Write(t, "auth/approle/role/"+role, config)
	r, err := s.Client.Logical().Read("auth/approle/role/" + role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sec := s.Write(t, "auth/approle/role/"+role+"/secret-id", map[string]any{})
	return fmt.Sprint(r.Data["role_id"]), fmt.Sprint(sec.Data["secret_id"])
}

// auditEntry is the part of a Vault audit log line the counters read.
type auditEntry struct {
	Type    string `json:"type"`
	Request struct {
		Path      string `json:"path"`
		Operation string `json:"operation"`
	} `json:"request"`
	Auth *struct {
		ClientToken string `json:"client_token"`
	} `json:"auth"`
	Error string `json:"error"`
}

// countAudit counts the audit log entries that match.
func (s *Server) countAudit(t testing.TB, match func(auditEntry) bool) int {
	t.Helper()
	n := 0
	for _, entry := range s.auditEntries(t, 0) {
		if match(entry) {
			n++
		}
	}
	return n
}

// auditEntries are the audit log's entries from the from-th on.
func (s *Server) auditEntries(t testing.TB, from int) []auditEntry {
	t.Helper()
	b, err := os.ReadFile(s.audit)
	if err != nil {
		t.Fatal(err)
	}
	var entries []auditEntry
	for _, line := range strings.Split(string(b), "\n") {
		var entry auditEntry
		if json.Unmarshal([]byte(line), &entry) == nil {
			entries = append(entries, entry)
		}
	}
	return entries[min(from, len(entries)):]
}

// AuditMark is a position in the audit log, for RequestsSince.
func (s *Server) AuditMark(t testing.TB) int {
	t.Helper()
	return len(s.auditEntries(t, 0))
}

// Request is one request as Vault's audit log recorded it: the path Vault
// routed (after its own parsing) and the operation.
type Request struct{ Operation, Path string }

// RequestsSince lists the requests Vault received after mark.
func (s *Server) RequestsSince(t testing.TB, mark int) []Request {
	t.Helper()
	var out []Request
	for _, e := range s.auditEntries(t, mark) {
		if e.Type == "request" {
			out = append(out, Request{Operation: e.Request.Operation, Path: e.Request.Path})
		}
	}
	return out
}

// Logins counts successful login requests Vault's audit log recorded for an auth mount path.
func (s *Server) Logins(t testing.TB, mount string) int {
	t.Helper()
	return s.countAudit(t, func(e auditEntry) bool {
		return e.Type == "response" && e.Request.Path == "auth/"+mount+"/login" && e.Error == "" && e.Auth != nil && e.Auth.ClientToken != ""
	})
}

// Requests counts the requests Vault's audit log recorded for a path prefix.
func (s *Server) Requests(t testing.TB, prefix string) int {
	t.Helper()
	return s.countAudit(t, func(e auditEntry) bool { return e.Type == "request" && strings.HasPrefix(e.Request.Path, prefix) })
}
